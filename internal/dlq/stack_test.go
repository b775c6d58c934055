package dlq_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/promptq/promptq/internal/dev/standin"
	"github.com/promptq/promptq/internal/dlq"
	"github.com/promptq/promptq/internal/jobs"
)

// stackEndpoint answers CloudFormation's DescribeStacks (the query
// protocol, XML) for one stack with outputs, and passes every other
// request to kumo, so one endpoint stands in for a deployed stack.
func stackEndpoint(t *testing.T, stack string, outputs map[string]string) string {
	t.Helper()
	kumo, err := url.Parse(standin.Kumo(t).URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(kumo)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
			proxy.ServeHTTP(w, r)
			return
		}
		body, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(body))
		if form.Get("Action") != "DescribeStacks" {
			http.Error(w, "unexpected action "+form.Get("Action"), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "text/xml")
		if form.Get("StackName") != stack {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `<ErrorResponse><Error><Type>Sender</Type><Code>ValidationError</Code><Message>Stack with id %s does not exist</Message></Error><RequestId>r</RequestId></ErrorResponse>`, form.Get("StackName"))
			return
		}
		var out bytes.Buffer
		for k, v := range outputs {
			fmt.Fprintf(&out, "<member><OutputKey>%s</OutputKey><OutputValue>%s</OutputValue></member>", k, v)
		}
		fmt.Fprintf(w, `<DescribeStacksResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/">
<DescribeStacksResult><Stacks><member>
<StackName>%s</StackName><StackId>arn:aws:cloudformation:us-east-1:000000000000:stack/%s/1</StackId>
<CreationTime>2026-01-01T00:00:00Z</CreationTime><StackStatus>CREATE_COMPLETE</StackStatus>
<Outputs>%s</Outputs>
</member></Stacks></DescribeStacksResult>
<ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></DescribeStacksResponse>`, stack, stack, out.String())
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestStackReadsTheQueuesAndTableFromTheStacksOutputs(t *testing.T) {
	t.Parallel()
	b := setup(t)
	j := b.deadJob("Deployed.")
	endpoint := stackEndpoint(t, "Promptq", map[string]string{
		dlq.OutputInteractiveQueueURL: b.urls[jobs.LaneInteractive], dlq.OutputBulkQueueURL: b.urls[jobs.LaneBulk],
		dlq.OutputDLQURL: b.dlqURL, dlq.OutputTable: b.table,
		"ApiUrl": "https://example.invalid/prod",
	})
	var regions []string
	run := func(args ...string) (int, string, string) {
		var stdout, stderr standin.Buffer
		code := dlq.Main(t.Context(), args, dlq.Env{
			Stdout: &stdout, Stderr: &stderr,
			LoadAWSConfig: func(_ context.Context, region string) (aws.Config, error) {
				regions = append(regions, region)
				return aws.Config{
					Region:       region,
					Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
					BaseEndpoint: aws.String(endpoint),
				}, nil
			},
		})
		t.Logf("dlq %v: exit %d\n%s%s", args, code, stdout.String(), stderr.String())
		return code, stdout.String(), stderr.String()
	}

	code, out, _ := run("--stack", "Promptq", "--region", "us-east-1", "list")
	if code != dlq.ExitOK || !strings.Contains(out, j.ID) {
		t.Errorf("list on the stack: exit %d, output %q; want 0 and the job", code, out)
	}
	if len(regions) != 1 || regions[0] != "us-east-1" {
		t.Errorf("the SDK configuration was loaded for regions %q, want [us-east-1]", regions)
	}
	if code, _, stderr := run("list", "--stack", "Other", "--region", "us-east-1"); code != dlq.ExitFailure || !strings.Contains(stderr, "Other") {
		t.Errorf("list on a missing stack: exit %d, stderr %q; want %d naming it", code, stderr, dlq.ExitFailure)
	}
	if code, _, _ := run("list", "--stack", "Promptq"); code != dlq.ExitUsage {
		t.Errorf("--stack with no region anywhere: exit %d, want %d", code, dlq.ExitUsage)
	}
}

func TestAStackWithoutPromptqsOutputsIsRefused(t *testing.T) {
	t.Parallel()
	endpoint := stackEndpoint(t, "Else", map[string]string{"BucketName": "b"})
	var stderr standin.Buffer
	code := dlq.Main(t.Context(), []string{"--stack", "Else", "--region", "eu-west-1", "list"}, dlq.Env{
		Stdout: io.Discard, Stderr: &stderr,
		LoadAWSConfig: func(_ context.Context, region string) (aws.Config, error) {
			return aws.Config{Region: region, Credentials: credentials.NewStaticCredentialsProvider("t", "t", ""), BaseEndpoint: aws.String(endpoint)}, nil
		},
	})
	if code != dlq.ExitFailure || !strings.Contains(stderr.String(), dlq.OutputDLQURL) {
		t.Errorf("exit %d, stderr %q; want %d naming the missing outputs", code, stderr.String(), dlq.ExitFailure)
	}
}
