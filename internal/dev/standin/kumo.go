package standin

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/sivchari/kumo"
)

// Region is the fixed region of every stand-in client. Stand-ins accept any
// region; a fixed one keeps ARNs and URLs predictable.
const Region = "us-east-1"

// maxAttempts bounds the SDK's retries against a stand-in: an emulator's 500
// is a bug to see at once, not something to wait out three times.
const maxAttempts = 2

// AWSConfig returns an SDK configuration for a stand-in listening at
// endpoint (such as "http://127.0.0.1:4566"): fixed region, static dummy
// credentials (nothing is read from the environment or instance metadata),
// BaseEndpoint set, and few retries.
func AWSConfig(endpoint string) aws.Config {
	return aws.Config{
		Region:       Region,
		Credentials:  credentials.NewStaticCredentialsProvider("standin", "standin", ""),
		BaseEndpoint: aws.String(endpoint),
		Retryer: func() aws.Retryer {
			return retry.AddWithMaxAttempts(retry.NewStandard(), maxAttempts)
		},
	}
}

// DynamoDB returns a DynamoDB client for the stand-in at endpoint. optFns
// apply after the stand-in settings.
func DynamoDB(endpoint string, optFns ...func(*dynamodb.Options)) *dynamodb.Client {
	opts := append([]func(*dynamodb.Options){func(o *dynamodb.Options) {
		// kumo sends no X-Amz-Crc32 header; without this every call logs
		// a checksum warning.
		o.DisableValidateResponseChecksum = true
	}}, optFns...)
	return dynamodb.NewFromConfig(AWSConfig(endpoint), opts...)
}

// SQS returns an SQS client for the stand-in at endpoint.
func SQS(endpoint string, optFns ...func(*sqs.Options)) *sqs.Client {
	return sqs.NewFromConfig(AWSConfig(endpoint), optFns...)
}

// S3 returns an S3 client for the stand-in at endpoint, with path-style
// addressing (bucket in the path), which a stand-in on one host:port needs.
func S3(endpoint string, optFns ...func(*s3.Options)) *s3.Client {
	opts := append([]func(*s3.Options){func(o *s3.Options) { o.UsePathStyle = true }}, optFns...)
	return s3.NewFromConfig(AWSConfig(endpoint), opts...)
}

// NewBucket creates a bucket of a unique name on kumo's S3 for a test,
// and returns an S3 client for kumo and the bucket's name.
func NewBucket(tb TB, k *KumoServer) (*s3.Client, string) {
	tb.Helper()
	client := S3(k.URL)
	name := strings.ToLower(UniqueName(tb))
	if _, err := client.CreateBucket(tb.Context(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		tb.Fatal(err)
	}
	return client, name
}

// KumoServer is a running kumo emulator with clients for it.
type KumoServer struct {
	URL      string // base URL, http://127.0.0.1:port
	DynamoDB *dynamodb.Client
	SQS      *sqs.Client

	srv *kumo.Server
}

// StartKumo starts kumo in this process on a free port of 127.0.0.1. Its
// state lives in memory.
//
// kumo keeps its state in package-level variables: every server started in
// one process serves the same tables and queues, and Close stops listening
// without clearing them. Tests therefore share one server ([Kumo]) and keep
// apart by name ([UniqueName]).
func StartKumo() *KumoServer {
	srv := kumo.NewServer()
	return &KumoServer{
		URL:      srv.URL,
		DynamoDB: DynamoDB(srv.URL),
		SQS:      SQS(srv.URL),
		srv:      srv,
	}
}

// Close stops the server.
func (k *KumoServer) Close() { k.srv.Close() }

var shared struct {
	once sync.Once
	k    *KumoServer
}

// Kumo returns the test binary's kumo emulator, starting it on first use.
// It runs until the process exits: since kumo's state is shared by the whole
// process anyway (see [StartKumo]), one server per package is as isolated as
// one per test and starts once. Tests keep apart by using their own table
// and queue names from [UniqueName].
//
// kumo runs in-process, so unlike the npm stand-ins it can never be
// missing: there is nothing to install and no reason to skip.
func Kumo(t TB) *KumoServer {
	t.Helper()
	shared.once.Do(func() { shared.k = StartKumo() })
	return shared.k
}

// UniqueName returns a name for a table or queue that no other test of the
// process uses: the end of t's name reduced to letters, digits and hyphens
// (valid for DynamoDB tables and SQS queues alike), and a random suffix.
func UniqueName(t TB) string {
	t.Helper()
	name := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			return r
		}
		return '-'
	}, t.Name())
	if len(name) > 40 {
		name = name[len(name)-40:]
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b) // crypto/rand.Read never returns an error
	return strings.Trim(name, "-") + "-" + hex.EncodeToString(b)
}
