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
LOCAL_AWS_SQS_VERSION := 2.0.2
REDOCLY_CLI_VERSION  := 2.77.0
STATICCHECK_VERSION  := v0.8.2

GO_PACKAGES := ./...
LAMBDAS     := api worker rescuer presignup jobevents collector completion
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

# An SQS stand-in that has message move tasks (kumo has none), for the DLQ
# tool's bulk replay test. After cognito-local: one npm at a time in
# $(NODE_TOOLS).
$(NODE_TOOLS)/node_modules/local-aws-sqs/package.json: | $(NODE_TOOLS)/node_modules/.bin/cognito-local
	cd $(NODE_TOOLS) && npm install --no-audit --no-fund --save-exact local-aws-sqs@$(LOCAL_AWS_SQS_VERSION)

# Redocly CLI, a standard OpenAPI linter, for docs/openapi.yaml (after
# local-aws-sqs: one npm at a time in $(NODE_TOOLS)).
REDOCLY := $(NODE_TOOLS)/node_modules/.bin/redocly
$(REDOCLY): | $(NODE_TOOLS)/node_modules/local-aws-sqs/package.json
	cd $(NODE_TOOLS) && npm install --no-audit --no-fund --save-exact @redocly/cli@$(REDOCLY_CLI_VERSION)

.PHONY: tools
tools: $(TOOLS_BIN)/aws-lambda-rie $(NODE_TOOLS)/node_modules/.bin/cognito-local $(NODE_TOOLS)/node_modules/local-aws-sqs/package.json $(REDOCLY) ## install the pinned test tools into .tools/

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

# The operators' dead-letter queue tool for this machine (README: Operators).
.PHONY: dlq
dlq: ## build the dead-letter queue tool into bin/dlq (bin/dlq --help)
	go build -o bin/dlq ./scripts/dlq

# The batch tool for this machine (README: Batch jobs).
.PHONY: batch
batch: ## build the batch tool into bin/batch (bin/batch --help)
	go build -o bin/batch ./scripts/batch

## ---- dev: the whole product on this machine (internal/dev/devstack) ----------

# The dev stack's data, logs, dev.json and runner binary (the runner reads
# PROMPTQ_DEV_DIR too; tests point it at a temporary dir). Ports and the
# rest: docs/configuration.md.
PROMPTQ_DEV_DIR ?= .local
DEV_BIN := $(PROMPTQ_DEV_DIR)/bin/promptq-dev

.PHONY: dev
dev: $(NODE_TOOLS)/node_modules/.bin/cognito-local ## run the product locally: stand-ins, API, web app, worker (Ctrl-C stops it)
	@echo "promptq dev: building the dev runner (the first build takes a few minutes)"
	@go build -o $(DEV_BIN) ./scripts/dev
	@exec $(DEV_BIN)

.PHONY: dev-reset
dev-reset: ## delete the dev stack's data: users, jobs, queues (refused while make dev runs)
	@go build -o $(DEV_BIN) ./scripts/dev
	@exec $(DEV_BIN) reset

## ---- checks ------------------------------------------------------------

.PHONY: test
test: tools lint test-go test-stack test-web ## run every test (installs what it needs first)

.PHONY: test-go
# The dev stacks the tests start run kumo in a child process: the dev
# runner built without -race (PROMPTQ_KUMO_CHILD), since a race-instrumented
# kumo used most of the CPU and made the tests' AWS calls time out.
test-go:
	go build -o $(TOOLS_BIN)/promptq-dev ./scripts/dev
	PROMPTQ_KUMO_CHILD=$(TOOLS_BIN)/promptq-dev PROMPTQ_REQUIRE_STANDINS=1 PROMPTQ_TOOLS=$(TOOLS) go test -race -count=1 -timeout 20m $(GO_PACKAGES)

.PHONY: lint
lint: lint-openapi ## gofmt, go vet, staticcheck, and the API contract's linter
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '^stack/')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	go vet $(GO_PACKAGES)
	go run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) $(GO_PACKAGES)

# The API contract, checked by a standard linter (Redocly's recommended
# rules, docs/redocly.yaml): a client generated from it gets what the API
# answers. Any error or warning fails.
.PHONY: lint-openapi
lint-openapi: $(REDOCLY) ## lint docs/openapi.yaml with Redocly CLI (pinned)
	REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true $(REDOCLY) lint docs/openapi.yaml --config docs/redocly.yaml --max-problems 50 --format stylish

FUZZTIME ?= 30s
FUZZ_TARGETS := ./internal/jobs:FuzzDecodeRequest ./internal/jobs:FuzzJoinOnlyGrows ./internal/httpapi:FuzzGenerate \
	./internal/httpapi:FuzzBatch ./internal/httpapi:FuzzBearerToken ./internal/cognito:FuzzVerify \
	./internal/bedrockbatch:FuzzReadOutput

# go test -fuzz with a pattern that matches nothing warns and exits 0, so a
# moved target would never be fuzzed: each one is listed first, and a name
# the package does not have fails the run.
.PHONY: fuzz
fuzz: ## run each fuzz target for FUZZTIME (default 30s); seeds live in testdata/fuzz and run in every make test
	@for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; fn=$${t##*:}; \
		go test -list="^$$fn\$$" $$pkg | grep -x "$$fn" >/dev/null || { echo "fuzz: $$pkg has no fuzz target $$fn"; exit 1; }; \
		echo "fuzz $$fn ($$pkg) for $(FUZZTIME)"; \
		go test -run='^$$' -fuzz="^$$fn\$$" -fuzztime=$(FUZZTIME) $$pkg || exit 1; done

.PHONY: bench
bench: ## run the Go benchmarks (results go in docs/benchmarks.md)
	go test -run='^$$' -bench=. -benchmem $(GO_PACKAGES)

## ---- measurements: scripts that start a dev stack of their own on 127.0.0.1 --

# Results and how to read them: docs/reliability.md (load, faults) and
# docs/benchmarks.md (coldstart, cost, lanes). Each takes its flags in ARGS, e.g.
#   make load ARGS='-users 10 -jobs 100'
# and exits non-zero when a check fails; `make -k measure` runs them all.
ARGS ?=

.PHONY: load faults coldstart cost lanes measure
load: $(NODE_TOOLS)/node_modules/.bin/cognito-local ## 1,000 jobs from 50 users at once: latencies, and every job ends once (a few minutes)
	go run ./scripts/measure/load $(ARGS)

faults: $(NODE_TOOLS)/node_modules/.bin/cognito-local ## kill the worker, restart or freeze DynamoDB+SQS, throttle the model, lose answers: every job ends? (~11 min)
	go run ./scripts/measure/faults $(ARGS)

coldstart: tools ## Lambda bootstrap sizes, cold starts and memory under aws-lambda-rie
	go run ./scripts/measure/coldstart $(ARGS)

cost: $(NODE_TOOLS)/node_modules/.bin/cognito-local ## AWS requests per job counted end to end, in dollars per 1,000 jobs (~5 min)
	go run ./scripts/measure/cost $(ARGS)

lanes: $(NODE_TOOLS)/node_modules/.bin/cognito-local ## many users at once: interactive wait behind a backlog, bulk fairness, capacity use, seats borrowed and given back, quota use, amplification, replays of a held-back batch (~35 min)
	go run ./scripts/measure/lanes $(ARGS)

measure: load faults coldstart cost lanes ## all five measurements (about an hour; use make -k measure)

## ---- stack: the AWS CDK app in stack/ (its own Go module) ----------------

# The CDK CLI, pinned to the 2.x line, installed outside every Go module:
# its npm package ships files named %name%.template.go that break go tooling.
CDK_CLI_VERSION := 2.1148.1
CDK_TOOLS       := $(TOOLS)/cdk
CDK             := $(CDK_TOOLS)/node_modules/.bin/cdk
STACK_NAME      := Promptq
STACK_OUTPUTS   := $(CURDIR)/.local/stack-outputs.json
# The outputs `make deploy` prints, in this order.
STACK_PRINT     := SiteUrl ApiUrl Region UserPoolId UserPoolClientId CognitoEndpoint \
	InteractiveQueueUrl BulkQueueUrl DeadLetterQueueUrl TableName AlarmTopicArn EconomyQueueUrl EconomyBucketName
# More CDK context for synth/deploy/destroy, e.g.
#   make deploy CDK_ARGS='-c promptq:alarmEmail=ops@example.com'
# (the keys are in docs/configuration.md).
CDK_ARGS ?=
CDK_FLAGS = --no-notices \
	-c promptq:apiAsset=$(CURDIR)/bin/api -c promptq:workerAsset=$(CURDIR)/bin/worker -c promptq:rescuerAsset=$(CURDIR)/bin/rescuer \
	-c promptq:presignupAsset=$(CURDIR)/bin/presignup \
	-c promptq:webDir=$(CURDIR)/web $(CDK_ARGS)
# jsii runs aws-cdk-lib in node: no end-of-life banner on every start, no
# CLI telemetry.
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_DISABLE_CLI_TELEMETRY := true

$(CDK):
	mkdir -p $(CDK_TOOLS)
	cd $(CDK_TOOLS) && [ -f package.json ] || echo '{"private":true}' > package.json
	cd $(CDK_TOOLS) && npm install --no-audit --no-fund --save-exact aws-cdk@$(CDK_CLI_VERSION)

.PHONY: synth
synth: build $(CDK) ## print the stack's CloudFormation template (no AWS access needed)
	cd stack && $(CDK) synth $(CDK_FLAGS) $(STACK_NAME)

.PHONY: cdk-bootstrap
cdk-bootstrap: $(CDK) ## once per account and region: prepare it for CDK deploys
	cd stack && $(CDK) bootstrap --no-notices

.PHONY: deploy
deploy: build $(CDK) ## deploy to your AWS credentials' account and region, then print the URLs and ids
	@mkdir -p $(dir $(STACK_OUTPUTS))
	cd stack && $(CDK) deploy $(CDK_FLAGS) --require-approval never --outputs-file $(STACK_OUTPUTS) $(STACK_NAME)
	@node -e 'const [file, stack, ...keys] = process.argv.slice(1), o = require(file)[stack]; console.log("\npromptq is deployed (outputs also in " + file + "):"); for (const k of keys) console.log("  " + k.padEnd(20) + o[k]);' $(STACK_OUTPUTS) $(STACK_NAME) $(STACK_PRINT)

# After a deploy: a throwaway user (made with your AWS credentials, deleted
# at the end) submits a prompt through the API and polls it to succeeded;
# the page, config.json, HTTPS and the security headers are checked too.
# Without .local/stack-outputs.json it checks the running make dev.
.PHONY: smoke
smoke: ## check the deployed stack end to end (or make dev when nothing is deployed); exit 0 when all passed
	@go run ./scripts/smoke --outputs $(STACK_OUTPUTS) --stack $(STACK_NAME) --dev-dir $(PROMPTQ_DEV_DIR) $(ARGS)

.PHONY: destroy
destroy: build $(CDK) ## delete the deployed stack and its data (unless deletion protection is on)
	cd stack && $(CDK) destroy $(CDK_FLAGS) --force $(STACK_NAME)

# cfn-lint (AWS's CloudFormation linter) checks the synthesized templates in
# test-stack. This machine kind's image ships the pinned version (pip,
# Python 3.11): the target points .tools/bin/cfn-lint at it. Elsewhere it
# is installed with pip into .tools/cfn-lint, pinned.
CFN_LINT_VERSION := 1.51.0
CFN_LINT         := $(TOOLS_BIN)/cfn-lint

$(CFN_LINT):
	@mkdir -p $(TOOLS_BIN)
	@sys=$$(command -v cfn-lint || true); \
	if [ -n "$$sys" ] && [ "$$("$$sys" --version 2>/dev/null)" = "cfn-lint $(CFN_LINT_VERSION)" ]; then \
		printf '#!/bin/sh\nexec %s "$$@"\n' "$$sys" > $@; \
	else \
		echo "installing cfn-lint $(CFN_LINT_VERSION) into $(TOOLS)/cfn-lint"; \
		python3 -m pip install --quiet --disable-pip-version-check --target $(TOOLS)/cfn-lint cfn-lint==$(CFN_LINT_VERSION) || \
			{ echo "cfn-lint $(CFN_LINT_VERSION) is needed: pip could not install it (python3 -m pip install cfn-lint==$(CFN_LINT_VERSION))"; exit 1; }; \
		printf '#!/bin/sh\nPYTHONPATH=%s exec python3 -c "import sys; from cfnlint.runner import main; sys.exit(main())" "$$@"\n' "$(TOOLS)/cfn-lint" > $@; \
	fi; \
	chmod +x $@

.PHONY: test-stack
test-stack: $(CFN_LINT) ## synthesize the stack offline and check it (assertions, IAM, cdk-nag, cfn-lint)
	@out=$$(cd stack && gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed in stack/:"; echo "$$out"; exit 1; fi
	cd stack && go vet ./... && PROMPTQ_CFN_LINT=$(CFN_LINT) go test -count=1 ./...

## ---- web: the static site (web/) and its browser tests (scripts/webtest) --

# web/ is deployed as it is: no build step. Its browser tests drive Debian's
# Chromium with playwright-core (pinned in scripts/webtest/package-lock.json,
# installed into its ignored node_modules); Playwright's own browser
# download is never used. scripts/webtest has a stub go.mod, so nothing npm
# installs there reaches `go test ./...`.
CHROMIUM ?= /usr/bin/chromium
WEBTEST  := scripts/webtest

$(WEBTEST)/node_modules/.package-lock.json: $(WEBTEST)/package.json $(WEBTEST)/package-lock.json
	cd $(WEBTEST) && npm ci --no-audit --no-fund
	@touch $@

$(CHROMIUM):
	@echo "installing Debian's chromium for the browser tests"
	@sudo=; [ "$$(id -u)" = 0 ] || sudo=sudo; \
		$$sudo apt-get update -q && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -q chromium

.PHONY: web-tools
web-tools: $(CHROMIUM) $(WEBTEST)/node_modules/.package-lock.json $(NODE_TOOLS)/node_modules/.bin/cognito-local ## install what the browser tests need (Debian's chromium, playwright-core, cognito-local)

.PHONY: test-web
test-web: web-tools ## test the web app: unit tests, then headless Chromium against a fresh dev stack
	cd $(WEBTEST) && node --test unit/
	cd $(WEBTEST) && WEBTEST_CHROMIUM=$(CHROMIUM) PROMPTQ_TOOLS=$(TOOLS) node --test --test-concurrency=1 tests/

.PHONY: web-screenshots
web-screenshots: web-tools ## run the browser tests, saving screenshots of the main states in docs/screenshots/
	cd $(WEBTEST) && WEBTEST_CHROMIUM=$(CHROMIUM) PROMPTQ_TOOLS=$(TOOLS) WEBTEST_SCREENSHOTS=$(CURDIR)/docs/screenshots \
		node --test --test-concurrency=1 tests/
