// Package s3bucket keeps files in one Amazon S3 bucket: the economy lane's
// run files (internal/economy), written by the collector and by Bedrock,
// read by the completion function.
package s3bucket

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Bucket is one bucket. It is safe for concurrent use.
type Bucket struct {
	client *s3.Client
	name   string
}

// New returns the bucket name.
func New(client *s3.Client, name string) *Bucket { return &Bucket{client: client, name: name} }

// Name is the bucket's name.
func (b *Bucket) Name() string { return b.name }

// URI is key's s3:// URI.
func (b *Bucket) URI(key string) string { return "s3://" + b.name + "/" + key }

// ErrNotFound is wrapped by Open's error for a key with no object.
var ErrNotFound = errors.New("no such object")

// Put writes body at key.
func (b *Bucket) Put(ctx context.Context, key string, body []byte) error {
	_, err := b.client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(b.name), Key: aws.String(key),
		Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body)))})
	if err != nil {
		return fmt.Errorf("write s3://%s/%s: %w", b.name, key, err)
	}
	return nil
}

// Open reads the object at key; the caller closes it.
func (b *Bucket) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	out, err := b.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(b.name), Key: aws.String(key)})
	if err != nil {
		var missing *types.NoSuchKey
		if errors.As(err, &missing) {
			return nil, fmt.Errorf("read s3://%s/%s: %w", b.name, key, ErrNotFound)
		}
		return nil, fmt.Errorf("read s3://%s/%s: %w", b.name, key, err)
	}
	return out.Body, nil
}

// List returns the keys under prefix, in S3's order (by key).
func (b *Bucket) List(ctx context.Context, prefix string) ([]string, error) {
	p := s3.NewListObjectsV2Paginator(b.client, &s3.ListObjectsV2Input{Bucket: aws.String(b.name), Prefix: aws.String(prefix)})
	var keys []string
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list s3://%s/%s: %w", b.name, prefix, err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return keys, nil
}
