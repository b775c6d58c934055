// Package lambdas_test checks what the Lambda binaries link.
package lambdas_test

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// harness are the module's trees that exist to run or measure the product
// on this machine: internal/dev (stand-ins, the dev runner, test suites and
// fakes) and internal/measure. A Lambda that links one ships code AWS never
// runs.
var harness = []string{
	"internal/dev",
	"internal/measure",
}

// TestNoLambdaLinksTheHarnessOrTesting lists each Lambda's dependencies
// (go list -deps) and fails on a harness package or the testing package.
func TestNoLambdaLinksTheHarnessOrTesting(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}: {{join .Deps \" \"}}", "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	var lambdas []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, deps, _ := strings.Cut(line, ": ")
		name, ok := strings.CutPrefix(pkg, "github.com/promptq/promptq/lambdas/")
		if !ok {
			continue // this package, which holds only these tests
		}
		lambdas = append(lambdas, name)
		for _, dep := range strings.Fields(deps) {
			if dep == "testing" {
				t.Errorf("%s links testing", pkg)
			}
			for _, h := range harness {
				if dep == "github.com/promptq/promptq/"+h || strings.HasPrefix(dep, "github.com/promptq/promptq/"+h+"/") {
					t.Errorf("%s links %s, which only runs or measures the product locally", pkg, dep)
				}
			}
		}
	}
	// Every folder of lambdas/ is a Lambda, and go list saw each one.
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, e.Name())
		}
	}
	slices.Sort(lambdas)
	if !slices.Equal(lambdas, dirs) || len(dirs) < 7 {
		t.Errorf("go list checked the Lambdas %v; lambdas/ holds %v (api, collector, completion, jobevents, presignup, rescuer, worker)", lambdas, dirs)
	}
}

// TestNoCommandLinksTesting holds the product's commands and the dev runner
// (what a user runs: bin/batch, bin/dlq, make smoke, make dev) to the same
// rule for testing: the dev stand-ins they link take the test helpers'
// interface (standin.TB), not the testing package.
func TestNoCommandLinksTesting(t *testing.T) {
	t.Parallel()
	for _, cmd := range []string{"../scripts/batch", "../scripts/dlq", "../scripts/smoke", "../scripts/dev"} {
		out, err := exec.Command("go", "list", "-deps", cmd).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", cmd, err, out)
		}
		if slices.Contains(strings.Fields(string(out)), "testing") {
			t.Errorf("%s links testing", cmd)
		}
	}
}

// TestOnlyTheAppPackagesReadTheEnvironment holds the product's packages
// (everything but the harness and scripts/) to one wiring shape: only the
// app packages (internal/app/...) read the environment (import
// internal/envvar); the rest take their settings as values. And no product
// package imports the harness, but for devinfo, through which the
// product's commands find make dev's stack (it imports only jobs).
func TestOnlyTheAppPackagesReadTheEnvironment(t *testing.T) {
	t.Parallel()
	const module = "github.com/promptq/promptq/"
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}: {{join .Imports \" \"}}", "../...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	under := func(pkg, tree string) bool {
		return pkg == module+tree || strings.HasPrefix(pkg, module+tree+"/")
	}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, imports, _ := strings.Cut(line, ": ")
		if under(pkg, "scripts") || slices.ContainsFunc(harness, func(h string) bool { return under(pkg, h) }) {
			continue
		}
		checked++
		for _, imp := range strings.Fields(imports) {
			if imp == module+"internal/envvar" && !under(pkg, "internal/app") {
				t.Errorf("%s reads the environment (imports internal/envvar); only internal/app/... may", pkg)
			}
			if imp == module+"internal/dev/devstack/devinfo" {
				continue
			}
			for _, h := range harness {
				if under(imp, h) {
					t.Errorf("%s imports %s, which only runs or measures the product locally", pkg, imp)
				}
			}
		}
	}
	if checked < 30 {
		t.Errorf("checked %d product packages; go list should list more", checked)
	}
}
