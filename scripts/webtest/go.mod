// This folder is the Node project of the web app's browser tests, not Go
// code. The stub module keeps it (and the *.go files npm packages may ship
// in node_modules) out of the root module's `go test ./...` and `go vet ./...`.
module github.com/promptq/promptq/scripts/webtest

go 1.26
