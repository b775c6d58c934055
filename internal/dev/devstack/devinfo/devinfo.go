// Package devinfo reads and writes .local/dev.json, where the running dev
// stack (`make dev`, internal/dev/devstack) says where everything is: URLs,
// local endpoints, the user pool, the queues and the table. The batch and
// DLQ tools, tests and anything else that talks to the dev stack read it
// here, without importing the stack itself (and its emulators).
package devinfo

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/promptq/promptq/internal/jobs"
)

// FileName is the file's name in the dev dir.
const FileName = "dev.json"

// DefaultDir is the dev dir, relative to the repo root, unless
// PROMPTQ_DEV_DIR says otherwise.
const DefaultDir = ".local"

// Info is the content of dev.json.
type Info struct {
	PID    int    `json:"pid"`     // the dev runner's process id
	WebURL string `json:"web_url"` // the web app
	APIURL string `json:"api_url"` // the API's base URL, no trailing slash
	Region string `json:"region"`  // the region of every local ARN and client

	UserPoolID string `json:"user_pool_id"`
	ClientID   string `json:"client_id"` // the web app's client: no secret, USER_PASSWORD_AUTH
	Issuer     string `json:"issuer"`    // the iss of the pool's tokens

	// The local endpoint of each AWS service, for an SDK client's
	// BaseEndpoint (or AWS_ENDPOINT_URL_<SERVICE>). No trailing slash.
	CognitoEndpoint  string `json:"cognito_endpoint"`
	DynamoDBEndpoint string `json:"dynamodb_endpoint"`
	SQSEndpoint      string `json:"sqs_endpoint"`

	TableName string `json:"table_name"`
	// QueueURLs and QueueARNs are each lane's queue ("interactive",
	// "bulk"). The lanes share the dead-letter queue.
	QueueURLs       map[jobs.Lane]string `json:"queue_urls"`
	QueueARNs       map[jobs.Lane]string `json:"queue_arns"`
	DLQURL          string               `json:"dlq_url"`
	DLQARN          string               `json:"dlq_arn"`
	MaxReceiveCount int                  `json:"max_receive_count"` // receives before a message moves to the DLQ
	// VisibilityTimeout is the jobs queue's, in seconds.
	VisibilityTimeout int `json:"visibility_timeout"`

	ModelProvider string   `json:"model_provider"` // "local" or "bedrock"
	Models        []string `json:"models"`         // the API's allow-list
	DefaultModel  string   `json:"default_model"`

	// CognitoLog is the file cognito-local writes to, sign-up
	// confirmation codes included.
	CognitoLog string `json:"cognito_log"`
	DataDir    string `json:"data_dir"` // what `make dev-reset` deletes
	// Processes are the child processes by role ("kumo", "cognito"); each
	// leads its own process group.
	Processes map[string]int `json:"processes"`
}

// ErrNotRunning means dev.json does not exist: the dev stack is not running
// in that dir.
var ErrNotRunning = errors.New("promptq dev is not running (start it with `make dev`)")

// Path is dev.json's path in dir.
func Path(dir string) string { return filepath.Join(dir, FileName) }

// Read reads dir's dev.json. A missing file is ErrNotRunning.
func Read(dir string) (Info, error) {
	b, err := os.ReadFile(Path(dir))
	if errors.Is(err, fs.ErrNotExist) {
		return Info{}, fmt.Errorf("%w: no %s", ErrNotRunning, Path(dir))
	}
	if err != nil {
		return Info{}, fmt.Errorf("read dev info: %w", err)
	}
	var info Info
	if err := json.Unmarshal(b, &info); err != nil {
		return Info{}, fmt.Errorf("read dev info %s: %w", Path(dir), err)
	}
	return info, nil
}

// Write writes info to dir's dev.json atomically (a reader never sees half
// a file).
func Write(dir string, info Info) error {
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return fmt.Errorf("write dev info: %w", err)
	}
	tmp := Path(dir) + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write dev info: %w", err)
	}
	if err := os.Rename(tmp, Path(dir)); err != nil {
		return fmt.Errorf("write dev info: %w", err)
	}
	return nil
}

// Dir is the dev dir scripts should read: $PROMPTQ_DEV_DIR, or DefaultDir
// (relative to the working dir, which make sets to the repo root).
func Dir(getenv func(string) string) string {
	if d := getenv("PROMPTQ_DEV_DIR"); d != "" {
		return d
	}
	return DefaultDir
}
