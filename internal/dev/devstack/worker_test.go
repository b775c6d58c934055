package devstack

import (
	"path/filepath"
	"strings"
	"testing"
)

// With PROMPTQ_MODEL_PROVIDER=bedrock the runner needs the caller's AWS
// configuration, and says what is missing instead of failing on the first
// job. (Not parallel: it sets the process's AWS variables.)
func TestBedrockSaysWhatIsMissing(t *testing.T) {
	none := filepath.Join(t.TempDir(), "none")
	for _, kv := range [][2]string{
		{"AWS_CONFIG_FILE", none}, {"AWS_SHARED_CREDENTIALS_FILE", none}, {"AWS_PROFILE", ""},
		{"AWS_ACCESS_KEY_ID", ""}, {"AWS_SECRET_ACCESS_KEY", ""}, {"AWS_SESSION_TOKEN", ""},
		{"AWS_WEB_IDENTITY_TOKEN_FILE", ""}, {"AWS_CONTAINER_CREDENTIALS_FULL_URI", ""},
		{"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", ""}, {"AWS_EC2_METADATA_DISABLED", "true"},
		{"AWS_REGION", ""}, {"AWS_DEFAULT_REGION", ""},
	} {
		t.Setenv(kv[0], kv[1])
	}
	if _, err := bedrockClient(t.Context()); err == nil || !strings.Contains(err.Error(), "AWS_REGION") {
		t.Errorf("without a region: %v, want an error naming AWS_REGION", err)
	}
	t.Setenv("AWS_REGION", "us-east-1")
	if _, err := bedrockClient(t.Context()); err == nil || !strings.Contains(err.Error(), "credentials") {
		t.Errorf("without credentials: %v, want an error about credentials", err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	if _, err := bedrockClient(t.Context()); err != nil {
		t.Errorf("with a region and credentials: %v", err)
	}
}
