package rescuer_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/promptq/promptq/internal/app/rescuer"
	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/sqsqueue"
)

var urls = sqsqueue.LaneURLs{jobs.LaneInteractive: "http://q", jobs.LaneBulk: "http://q-bulk"}

func TestFromEnv(t *testing.T) {
	t.Parallel()
	base := map[string]string{"PROMPTQ_TABLE": "jobs", "PROMPTQ_INTERACTIVE_QUEUE_URL": "http://q", "PROMPTQ_BULK_QUEUE_URL": "http://q-bulk"}
	tests := []struct {
		name    string
		env     map[string]string
		want    rescuer.Config
		wantErr []string // each must appear in the error
	}{
		{"defaults", nil, rescuer.Config{Table: "jobs", QueueURLs: urls, MaxReceiveCount: 5, After: 45 * time.Minute}, nil},
		{"set", map[string]string{"PROMPTQ_MAX_RECEIVE_COUNT": "3", "PROMPTQ_RESCUE_AFTER": "2h"},
			rescuer.Config{Table: "jobs", QueueURLs: urls, MaxReceiveCount: 3, After: 2 * time.Hour}, nil},
		{"missing names", map[string]string{"PROMPTQ_TABLE": " ", "PROMPTQ_BULK_QUEUE_URL": ""}, rescuer.Config{},
			[]string{"PROMPTQ_TABLE is required", "PROMPTQ_BULK_QUEUE_URL is required"}},
		{"bad values", map[string]string{"PROMPTQ_MAX_RECEIVE_COUNT": "0", "PROMPTQ_RESCUE_AFTER": "30s"}, rescuer.Config{},
			[]string{`PROMPTQ_MAX_RECEIVE_COUNT="0"`, `PROMPTQ_RESCUE_AFTER="30s"`}},
		{"not a duration", map[string]string{"PROMPTQ_RESCUE_AFTER": "soon"}, rescuer.Config{}, []string{`PROMPTQ_RESCUE_AFTER="soon"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := rescuer.FromEnv(func(k string) string {
				if v, ok := tt.env[k]; ok {
					return v
				}
				return base[k]
			})
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("FromEnv = %+v, want an error", got)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not mention %q", err, w)
					}
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("FromEnv = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}
