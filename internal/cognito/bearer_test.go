package cognito

import (
	"errors"
	"testing"

	"github.com/promptq/promptq/internal/jobs"
)

func TestBearerToken(t *testing.T) {
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
		{"", "", ErrMissingToken},
		{"Bearer", "", ErrMalformedHeader},
		{"Bearer ", "", ErrMalformedHeader},
		{"Bearer  abc", "", ErrMalformedHeader},    // two spaces
		{"Bearer abc ", "", ErrMalformedHeader},    // trailing space
		{"Bearer abc def", "", ErrMalformedHeader}, // two tokens
		{"Bearer abc,Bearer def", "", ErrMalformedHeader},
		{"Bearer\tabc", "", ErrMalformedHeader},
		{"Bearer abc\n", "", ErrMalformedHeader},
		{"Bearer ab=c", "", ErrMalformedHeader}, // '=' only at the end
		{"Bearer ===", "", ErrMalformedHeader},
		{"Basic dXNlcjpwYXNz", "", ErrMalformedHeader},
		{"Token abc", "", ErrMalformedHeader},
		{"Bearerabc", "", ErrMalformedHeader},
		{" Bearer abc", "", ErrMalformedHeader},
		{"abc.def.ghi", "", ErrMalformedHeader}, // token without scheme
		{"Bearer abc\x00", "", ErrMalformedHeader},
		{"Bearer äbc", "", ErrMalformedHeader},
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			t.Parallel()
			got, err := BearerToken(tt.header)
			if got != tt.want {
				t.Errorf("BearerToken(%q) = %q, want %q", tt.header, got, tt.want)
			}
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Errorf("BearerToken(%q) error = %v, want %v", tt.header, err, tt.wantErr)
			}
			if err != nil && jobs.KindOf(err) != jobs.KindUnauthorized {
				t.Errorf("kind = %s, want unauthorized", jobs.KindOf(err))
			}
		})
	}
}
