package awserr_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"testing"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/promptq/promptq/internal/awserr"
)

// The errors as the SDK returns them; internal/dynamo and internal/sqsqueue
// test the same over the wire.
func TestTransient(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"no error", nil, false},
		{"a broken connection", &smithyhttp.RequestSendError{Err: io.EOF}, true},
		{"throttling", &smithy.GenericAPIError{Code: "ThrottlingException"}, true},
		{"an answer that broke off", &smithy.DeserializationError{Err: fmt.Errorf("failed to decode response body, %w", io.ErrUnexpectedEOF)}, true},
		{"past the deadline", &smithy.CanceledError{Err: context.DeadlineExceeded}, true},
		{"a whole answer that is not JSON", &smithy.DeserializationError{Err: fmt.Errorf("failed to decode response body, %w", &json.SyntaxError{})}, false},
		{"a cancelled call", &smithy.CanceledError{Err: context.Canceled}, false},
		{"a refused request", &smithy.GenericAPIError{Code: "ValidationException"}, false},
		{"a missing table", &smithy.GenericAPIError{Code: "ResourceNotFoundException"}, false},
	}
	for _, tt := range tests {
		if got := awserr.Transient(tt.err); got != tt.want {
			t.Errorf("%s: Transient(%v) = %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}
}
