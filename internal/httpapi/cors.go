package httpapi

import (
	"errors"
	"fmt"
	"github.com/promptq/promptq/internal/corsrules"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// cors answers preflights and marks responses for the configured web
// origins only. A wildcard would let any site read a user's jobs with a
// token it phished, so "*" is refused at start.
type cors struct {
	origins []string
}

func newCORS(origins []string) (cors, error) {
	for _, o := range origins {
		if o == "*" {
			return cors{}, errors.New(`CORS origin "*" is not allowed; list the web app's origin`)
		}
		u, err := url.Parse(o)
		if err != nil || u.Scheme == "" || u.Host == "" || u.Path != "" {
			return cors{}, fmt.Errorf("CORS origin %q must be scheme://host[:port]", o)
		}
	}
	return cors{origins: origins}, nil
}

// apply sets the CORS headers for an allowed origin and reports whether r
// is a preflight that has now been answered.
func (c cors) apply(w http.ResponseWriter, r *http.Request) (preflight bool) {
	origin := r.Header.Get("Origin")
	h := w.Header()
	h.Add("Vary", "Origin")
	allowed := origin != "" && slices.Contains(c.origins, origin)
	if allowed {
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Expose-Headers", strings.Join(corsrules.ExposedHeaders, ", "))
	}
	if r.Method != http.MethodOptions || r.Header.Get("Access-Control-Request-Method") == "" {
		return false
	}
	if allowed {
		h.Set("Access-Control-Allow-Methods", strings.Join(corsrules.Methods, ", "))
		h.Set("Access-Control-Allow-Headers", strings.Join(corsrules.RequestHeaders, ", "))
		h.Set("Access-Control-Max-Age", "600")
	}
	return true
}
