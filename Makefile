# promptq's vocabulary. `make help` lists the targets.
#
# Everything the targets install goes into ignored folders of this repo
# (.tools/ for tools, .local/ for the dev stack's data), pinned here.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

TOOLS        := $(CURDIR)/.tools
TOOLS_BIN    := $(TOOLS)/bin
NODE_TOOLS   := $(TOOLS)/node
export PATH  := $(TOOLS_BIN):$(NODE_TOOLS)/node_modules/.bin:$(PATH)
export AWS_EC2_METADATA_DISABLED := true

# Pinned tool versions.
RIE_VERSION          := v0.0.0-20261030222936-bef5c4ba774d
COGNITO_LOCAL_VERSION := 5.3.0
STATICCHECK_VERSION  := v0.8.2

GO_PACKAGES := ./...
LAMBDAS     := api worker
GOARCH_LAMBDA ?= arm64

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-zA-Z_/-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  %-14s %s\n", $$1, $$2}'

## ---- tools -------------------------------------------------------------

$(TOOLS_BIN)/aws-lambda-rie:
	GOBIN=$(TOOLS_BIN) go install github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@$(RIE_VERSION)

$(NODE_TOOLS)/node_modules/.bin/cognito-local:
	mkdir -p $(NODE_TOOLS)
	cd $(NODE_TOOLS) && [ -f package.json ] || echo '{"private":true}' > package.json
	cd $(NODE_TOOLS) && npm install --no-audit --no-fund --save-exact cognito-local@$(COGNITO_LOCAL_VERSION)

.PHONY: tools
tools: $(TOOLS_BIN)/aws-lambda-rie $(NODE_TOOLS)/node_modules/.bin/cognito-local ## install the pinned test tools into .tools/

## ---- build -------------------------------------------------------------

# Lambda binaries: provided.al2023 wants an executable named bootstrap.
# lambda.norpc drops the legacy RPC mode; -s -w and trimpath shrink the binary.
.PHONY: build
build: $(foreach l,$(LAMBDAS),bin/$(l)/bootstrap) ## build the Lambda bootstrap binaries (linux/$(GOARCH_LAMBDA)) into bin/

bin/%/bootstrap: FORCE
	@mkdir -p $(dir $@)
	CGO_ENABLED=0 GOOS=linux GOARCH=$(GOARCH_LAMBDA) go build -tags lambda.norpc -trimpath -ldflags='-s -w' -o $@ ./lambdas/$*

.PHONY: FORCE
FORCE:

## ---- checks ------------------------------------------------------------

.PHONY: test
test: tools lint test-go ## run every test (installs what it needs first)

.PHONY: test-go
test-go:
	PROMPTQ_REQUIRE_STANDINS=1 PROMPTQ_TOOLS=$(TOOLS) go test -race -count=1 $(GO_PACKAGES)

.PHONY: lint
lint: ## gofmt, go vet and staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '^stack/')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	go vet $(GO_PACKAGES)
	go run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) $(GO_PACKAGES)

.PHONY: bench
bench: ## run the Go benchmarks (results go in docs/benchmarks.md)
	go test -run='^$$' -bench=. -benchmem $(GO_PACKAGES)
