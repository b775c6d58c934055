package envvar_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/promptq/promptq/internal/envvar"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestReaderSetsWhatIsSetAndKeepsDefaults(t *testing.T) {
	t.Parallel()
	r := envvar.New(env(map[string]string{
		"S": " text ", "L": " a, ,b ", "I": "7", "F": "0.5", "D": "90s", "B": "false",
	}))
	s, unset, list, n, f, d, b := "", "default", []string(nil), 1, 0.25, time.Minute, true
	r.String("S", &s)
	r.String("UNSET", &unset)
	r.List("L", &list)
	r.Int("I", &n, 1, 10)
	r.Float("F", &f)
	r.Duration("D", &d, time.Second, time.Hour)
	r.Bool("B", &b)
	var required string
	r.Required("S", &required)
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	if required != "text" || s != "text" || unset != "default" || !slices.Equal(list, []string{"a", "b"}) || n != 7 || f != 0.5 || d != 90*time.Second || b {
		t.Errorf("got %q %q %q %d %v %v %v", s, unset, list, n, f, d, b)
	}
}

func TestReaderNamesEveryBadValueAndKeepsTheDefault(t *testing.T) {
	t.Parallel()
	r := envvar.New(env(map[string]string{
		"I": "x", "RANGE": "11", "MIN": "0", "F": "half", "D": "soon", "SHORT": "10ms", "B": "maybe",
	}))
	n, rng, atLeast, f, d, short, b := 1, 1, 1, 0.25, time.Minute, time.Minute, true
	r.Int("I", &n, envvar.NoMin, envvar.NoMax)
	r.Int("RANGE", &rng, 1, 10)
	r.Int("MIN", &atLeast, 1, envvar.NoMax)
	r.Float("F", &f)
	r.Duration("D", &d, 0, 0)
	r.Duration("SHORT", &short, time.Second, 0)
	r.Bool("B", &b)
	var missing string
	r.Required("MISSING", &missing)
	err := r.Err()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		`I="x": want a whole number`,
		`RANGE="11": want a whole number from 1 to 10`,
		`MIN="0": want a whole number of at least 1`,
		`F="half": want a number`,
		`D="soon": want a duration such as 30s or 5m`,
		`SHORT="10ms": want a duration such as 30s or 5m of at least 1s`,
		`B="maybe": want true or false`,
		`MISSING is required`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if n != 1 || rng != 1 || atLeast != 1 || f != 0.25 || d != time.Minute || short != time.Minute || !b {
		t.Errorf("a bad value changed its default: %d %d %d %v %v %v %v", n, rng, atLeast, f, d, short, b)
	}
}
