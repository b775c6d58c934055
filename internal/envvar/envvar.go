// Package envvar reads a program's configuration from its environment, the
// one way every function and the dev runner do it: each variable trimmed,
// an unset one leaving its default, a malformed one named with what it
// should be, and every error collected so that one start names them all.
//
//	r := envvar.New(os.Getenv)
//	r.Duration("PROMPTQ_LEASE", &c.Lease, time.Second, 0)
//	r.Int("PROMPTQ_MAX_RECEIVE_COUNT", &c.MaxReceiveCount, 1, envvar.NoMax)
//	if err := r.Err(); err != nil { ... }
package envvar

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// NoMin and NoMax leave a whole number unbounded on that side.
const (
	NoMin = math.MinInt
	NoMax = math.MaxInt
)

// Reader reads variables with getenv and collects what is wrong with them.
// It is not safe for concurrent use.
type Reader struct {
	getenv func(string) string
	errs   []error
}

// New returns a Reader of getenv (os.Getenv in a main, a map's lookup in
// tests).
func New(getenv func(string) string) *Reader { return &Reader{getenv: getenv} }

// Value is name's value with surrounding spaces trimmed ("" when unset).
func (r *Reader) Value(name string) string { return strings.TrimSpace(r.getenv(name)) }

// String sets *dst to name's value when it is set.
func (r *Reader) String(name string, dst *string) {
	if v := r.Value(name); v != "" {
		*dst = v
	}
}

// List sets *dst to name's comma-separated items, trimmed, empty ones
// dropped, when it has any.
func (r *Reader) List(name string, dst *[]string) {
	var out []string
	for _, s := range strings.Split(r.getenv(name), ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	if len(out) > 0 {
		*dst = out
	}
}

// Int sets *dst to name's value, a whole number from lo to hi (NoMin, NoMax:
// unbounded).
func (r *Reader) Int(name string, dst *int, lo, hi int) {
	v := r.Value(name)
	if v == "" {
		return
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		r.errs = append(r.errs, fmt.Errorf("%s=%q: want a whole number%s", name, v, bounds(lo, hi, NoMin, NoMax, strconv.Itoa)))
		return
	}
	*dst = n
}

// Float sets *dst to name's value, a number.
func (r *Reader) Float(name string, dst *float64) {
	v := r.Value(name)
	if v == "" {
		return
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		r.errs = append(r.errs, fmt.Errorf("%s=%q: want a number", name, v))
		return
	}
	*dst = f
}

// Duration sets *dst to name's value, a Go duration ("90s", "1m") from lo
// to hi (0: unbounded on that side).
func (r *Reader) Duration(name string, dst *time.Duration, lo, hi time.Duration) {
	v := r.Value(name)
	if v == "" {
		return
	}
	if lo == 0 {
		lo = math.MinInt64
	}
	if hi == 0 {
		hi = math.MaxInt64
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < lo || d > hi {
		r.errs = append(r.errs, fmt.Errorf("%s=%q: want a duration such as 30s or 5m%s", name, v,
			bounds(lo, hi, math.MinInt64, math.MaxInt64, time.Duration.String)))
		return
	}
	*dst = d
}

// Bool sets *dst to name's value, true or false.
func (r *Reader) Bool(name string, dst *bool) {
	v := r.Value(name)
	if v == "" {
		return
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		r.errs = append(r.errs, fmt.Errorf("%s=%q: want true or false", name, v))
		return
	}
	*dst = b
}

// Required sets *dst to name's value, and records an error naming name
// when it is unset.
func (r *Reader) Required(name string, dst *string) {
	v := r.Value(name)
	if v == "" {
		r.errs = append(r.errs, fmt.Errorf("%s is required", name))
		return
	}
	*dst = v
}

// Add records err (a rule across variables, another package's reader);
// nil is ignored.
func (r *Reader) Add(err error) {
	if err != nil {
		r.errs = append(r.errs, err)
	}
}

// Err is every error recorded, joined, or nil.
func (r *Reader) Err() error { return errors.Join(r.errs...) }

// bounds says which values lo and hi allow, for an error message.
func bounds[T int | time.Duration](lo, hi, min, max T, format func(T) string) string {
	switch {
	case lo != min && hi != max:
		return fmt.Sprintf(" from %s to %s", format(lo), format(hi))
	case lo != min:
		return " of at least " + format(lo)
	case hi != max:
		return " of at most " + format(hi)
	}
	return ""
}
