package s3bucket_test

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/promptq/promptq/internal/dev/standin"
	"github.com/promptq/promptq/internal/s3bucket"
)

func TestBucketOnKumo(t *testing.T) {
	client, name := standin.NewBucket(t, standin.Kumo(t))
	b := s3bucket.New(client, name)
	ctx := t.Context()
	for _, key := range []string{"runs/r1/input.jsonl", "runs/r1/output/x/input.jsonl.out", "runs/r2/input.jsonl"} {
		if err := b.Put(ctx, key, []byte("body of "+key)); err != nil {
			t.Fatal(err)
		}
	}
	keys, err := b.List(ctx, "runs/r1/")
	if err != nil || strings.Join(keys, ",") != "runs/r1/input.jsonl,runs/r1/output/x/input.jsonl.out" {
		t.Errorf("list = %v, %v", keys, err)
	}
	r, err := b.Open(ctx, "runs/r2/input.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(r)
	r.Close()
	if string(body) != "body of runs/r2/input.jsonl" {
		t.Errorf("read %q", body)
	}
	if _, err := b.Open(ctx, "runs/none"); !errors.Is(err, s3bucket.ErrNotFound) {
		t.Errorf("a missing key: %v, want ErrNotFound", err)
	}
	if got := b.URI("runs/r1/"); got != "s3://"+name+"/runs/r1/" {
		t.Errorf("URI = %s", got)
	}
}
