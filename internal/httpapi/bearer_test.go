package httpapi

import (
	"errors"
	"strings"
	"testing"

	"github.com/promptq/promptq/internal/jobs"
)

func TestBearerTokenTakesExactlyOneTokenAfterTheScheme(t *testing.T) {
	t.Parallel()
	tests := []struct {
		header  string
		want    string
		wantErr error
	}{
		{"Bearer abc.def.ghi", "abc.def.ghi", nil},
		{"bearer abc.def.ghi", "abc.def.ghi", nil},
		{"BEARER abc.def.ghi", "abc.def.ghi", nil},
		{"Bearer abc-_~+/=", "abc-_~+/=", nil}, // RFC 6750 b64token, padding at the end
		{"", "", errMissingToken},
		{"Bearer", "", errMalformedHeader},
		{"Bearer ", "", errMalformedHeader},
		{"Bearer  abc", "", errMalformedHeader},    // two spaces
		{"Bearer abc ", "", errMalformedHeader},    // trailing space
		{"Bearer abc def", "", errMalformedHeader}, // two tokens
		{"Bearer abc,Bearer def", "", errMalformedHeader},
		{"Bearer\tabc", "", errMalformedHeader},
		{"Bearer abc\n", "", errMalformedHeader},
		{"Bearer ab=c", "", errMalformedHeader}, // '=' only at the end
		{"Bearer ===", "", errMalformedHeader},
		{"Basic dXNlcjpwYXNz", "", errMalformedHeader},
		{"Token abc", "", errMalformedHeader},
		{"Bearerabc", "", errMalformedHeader},
		{" Bearer abc", "", errMalformedHeader},
		{"abc.def.ghi", "", errMalformedHeader}, // token without scheme
		{"Bearer abc\x00", "", errMalformedHeader},
		{"Bearer äbc", "", errMalformedHeader},
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			t.Parallel()
			got, err := bearerToken(tt.header)
			if got != tt.want {
				t.Errorf("bearerToken(%q) = %q, want %q", tt.header, got, tt.want)
			}
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Errorf("bearerToken(%q) error = %v, want %v", tt.header, err, tt.wantErr)
			}
			if err != nil && jobs.KindOf(err) != jobs.KindUnauthorized {
				t.Errorf("kind = %s, want unauthorized", jobs.KindOf(err))
			}
		})
	}
}

// FuzzBearerToken: any Authorization header either yields a token with no
// spaces or a 401; never a panic.
func FuzzBearerToken(f *testing.F) {
	for _, seed := range []string{"Bearer abc", "bearer  abc", "Bearer", "Basic dTpw", "Bearer a b", "", "Bearer \t"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, header string) {
		tok, err := bearerToken(header)
		if err != nil {
			var e *jobs.Error
			if !errors.As(err, &e) || e.Kind != jobs.KindUnauthorized {
				t.Fatalf("bearerToken(%q) error %v, want unauthorized", header, err)
			}
			return
		}
		if tok == "" || strings.ContainsAny(tok, " \t") {
			t.Fatalf("bearerToken(%q) = %q", header, tok)
		}
	})
}
