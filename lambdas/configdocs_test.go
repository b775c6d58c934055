package lambdas_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	workerapp "github.com/promptq/promptq/internal/app/worker"
	"github.com/promptq/promptq/internal/dev/devstack"
	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/quota"
	"github.com/promptq/promptq/internal/worker"
)

// readers are the packages whose code reads the variables
// docs/configuration.md lists: the functions' configuration (internal/app)
// and the dev runner's. Each variable is a string literal in one of them, or a lane's
// queue (quota.QueueURLEnv).
var readers = []string{
	"../lambdas",
	"../internal/app",
	"../internal/quota",
	"../internal/dev/devstack",
}

// notDocumented are variables a reader uses that are not configuration: the
// dev runner's handshake with its own child process.
var notDocumented = []string{"PROMPTQ_DEV_ROLE"}

var (
	envName    = regexp.MustCompile(`PROMPTQ_[A-Z0-9_]+`)
	envLiteral = regexp.MustCompile(`"(PROMPTQ_[A-Z0-9_]+)"`)
)

// TestConfigurationDocsListExactlyTheVariablesTheCodeReads holds
// docs/configuration.md's tables (the Lambda functions' environment and
// the dev runner's) to the variables the code reads: none missing, none
// that nothing reads.
func TestConfigurationDocsListExactlyTheVariablesTheCodeReads(t *testing.T) {
	t.Parallel()
	code := map[string]string{} // variable → a file that reads it
	for _, dir := range readers {
		err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, m := range envLiteral.FindAllStringSubmatch(string(b), -1) {
				code[m[1]] = path
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, lane := range append(jobs.Lanes, jobs.LaneEconomy) {
		code[quota.QueueURLEnv(lane)] = "internal/quota (QueueURLEnv)"
	}
	for _, v := range notDocumented {
		delete(code, v)
	}

	documented := map[string]bool{}
	for _, row := range docRows(t) {
		for _, v := range envName.FindAllString(row[0], -1) {
			documented[v] = true
		}
	}
	for v, file := range code {
		if !documented[v] {
			t.Errorf("%s (read in %s) is not in a table of docs/configuration.md", v, file)
		}
	}
	for v := range documented {
		if _, ok := code[v]; !ok {
			t.Errorf("docs/configuration.md lists %s, which no code reads", v)
		}
	}
}

// TestConfigurationDocsGiveTheWorkersDefaults holds the worker's table in
// docs/configuration.md to worker.DefaultConfig, and the dev stack's rows
// of the local model to devstack's defaults.
func TestConfigurationDocsGiveTheWorkersDefaults(t *testing.T) {
	t.Parallel()
	d := worker.DefaultConfig()
	checkDefaults(t, "### worker", map[string]any{
		"PROMPTQ_MAX_RECEIVE_COUNT":       d.MaxReceiveCount,
		"PROMPTQ_MODEL_PROVIDER":          workerapp.Provider,
		"PROMPTQ_MODEL_CONCURRENCY":       d.Quota.Concurrency,
		"PROMPTQ_INTERACTIVE_SHARE":       d.Quota.InteractiveShare,
		"PROMPTQ_MODEL_TOKENS_PER_MINUTE": d.Quota.TokensPerMinute,
		"PROMPTQ_FAIR_SHARES":             d.FairShares,
		"PROMPTQ_THROTTLE_BACKOFF_BASE":   d.ThrottleBackoffBase,
		"PROMPTQ_THROTTLE_BACKOFF_MAX":    d.ThrottleBackoffMax,
		"PROMPTQ_THROTTLE_GIVE_UP_AFTER":  d.ThrottleGiveUpAfter,
		"PROMPTQ_WORKER_CONCURRENCY":      d.Concurrency,
		"PROMPTQ_LEASE":                   d.Lease,
		"PROMPTQ_FLUSH_INTERVAL":          d.FlushInterval,
		"PROMPTQ_DEADLINE_MARGIN":         d.DeadlineMargin,
		"PROMPTQ_BACKOFF_BASE":            d.BackoffBase,
		"PROMPTQ_BACKOFF_MAX":             d.BackoffMax,
	})
	dev, err := devstack.FromEnv(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	checkDefaults(t, "## Dev stack", map[string]any{
		"PROMPTQ_LOCAL_TOKENS_PER_SECOND": dev.Local.TokensPerSecond,
		"PROMPTQ_LOCAL_LATENCY":           dev.Local.Latency,
		"PROMPTQ_LOCAL_MAX_CONCURRENT":    dev.Local.MaxConcurrent,
		"PROMPTQ_LOCAL_TOKENS_PER_MINUTE": dev.Local.TokensPerMinute,
	})
}

// checkDefaults holds the defaults the table of the section under heading
// gives to want's.
func checkDefaults(t *testing.T, heading string, want map[string]any) {
	t.Helper()
	seen := map[string]bool{}
	for _, row := range docSection(t, heading) {
		vars := envName.FindAllString(row[0], -1)
		// "A / B" rows give "a / b" defaults, in order.
		defaults := strings.Split(row[2], " / ")
		for i, v := range vars {
			w, ok := want[v]
			if !ok {
				continue
			}
			seen[v] = true
			if i >= len(defaults) {
				t.Errorf("%s: no default of its own in %q", v, row[2])
				continue
			}
			if got := firstWord(defaults[i]); !sameValue(got, w) {
				t.Errorf("%s: docs/configuration.md says the default is %q, the code's is %v", v, got, w)
			}
		}
	}
	for v := range want {
		if !seen[v] {
			t.Errorf("%s is not in the table under %q of docs/configuration.md", v, heading)
		}
	}
}

// docRows are the rows of every table in the sections of
// docs/configuration.md that list variables, as their cells.
func docRows(t *testing.T) [][]string {
	var rows [][]string
	for _, h := range []string{"### api", "### worker", "### presignup", "### rescuer", "### jobevents", "### collector and completion", "## Dev stack"} {
		rows = append(rows, docSection(t, h)...)
	}
	return rows
}

// docSection is the table rows (cells trimmed, the header and rule left
// out) of the section of docs/configuration.md whose heading starts with
// heading, up to the next heading.
func docSection(t *testing.T, heading string) [][]string {
	t.Helper()
	b, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	var rows [][]string
	in := false
	for line := range strings.Lines(string(b)) {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "#") {
			in = strings.HasPrefix(line, heading)
			continue
		}
		if !in || !strings.HasPrefix(line, "|") || strings.HasPrefix(line, "|---") || strings.HasPrefix(line, "| variable") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), " | ")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		rows = append(rows, cells)
	}
	if len(rows) == 0 {
		t.Fatalf("docs/configuration.md has no table under %q", heading)
	}
	return rows
}

// firstWord is a default cell's value: its first word, without backticks
// or a trailing colon.
func firstWord(cell string) string {
	f := strings.Fields(strings.ReplaceAll(cell, "`", ""))
	if len(f) == 0 {
		return ""
	}
	return strings.TrimSuffix(f[0], ":")
}

// sameValue reports whether the documented s stands for the code's v.
func sameValue(s string, v any) bool {
	switch v := v.(type) {
	case time.Duration:
		d, err := time.ParseDuration(s)
		return err == nil && d == v
	case int:
		n, err := strconv.Atoi(s)
		return err == nil && n == v
	case float64:
		f, err := strconv.ParseFloat(s, 64)
		return err == nil && f == v
	case bool:
		b, err := strconv.ParseBool(s)
		return err == nil && b == v
	default:
		return s == fmt.Sprint(v)
	}
}
