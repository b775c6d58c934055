package smoke

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"

	"github.com/promptq/promptq/internal/dev/devstack/devinfo"
)

// Exit codes of the command.
const (
	ExitOK     = 0 // every check passed
	ExitFailed = 1 // a check failed (the output says which)
	ExitUsage  = 2 // bad flags, or nothing to check
)

const usage = `Usage: smoke [flags]

Checks a promptq end to end in a minute or two: an unauthenticated request
is refused; the page and config.json are served (deployed: over HTTPS with
the security headers); a throwaway user, made with your credentials
(AdminCreateUser, AdminSetUserPassword; deleted at the end), logs in,
submits a short prompt and polls it until it has succeeded.

Target: the stack outputs make deploy wrote (--outputs), or, without them,
the running make dev (dev.json in --dev-dir).

Deployed, your AWS credentials need cognito-idp:AdminCreateUser,
AdminSetUserPassword and AdminDeleteUser on the user pool; the prompt runs
on the stack's default model (a few dozen tokens).

Exit codes: 0 every check passed, 1 a check failed, 2 usage or nothing to
check.

Flags:
`

// Main runs the command with args (without the program name) and returns
// its exit code.
func Main(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("smoke", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	devDir := getenv("PROMPTQ_DEV_DIR")
	if devDir == "" {
		devDir = devinfo.DefaultDir
	}
	outputs := fs.String("outputs", filepath.Join(devinfo.DefaultDir, "stack-outputs.json"), "the stack outputs `file` make deploy writes")
	stack := fs.String("stack", "Promptq", "the stack's `name` in the outputs file")
	fs.StringVar(&devDir, "dev-dir", devDir, "the dev stack's `dir` (dev.json), used when there is no outputs file (env PROMPTQ_DEV_DIR)")
	jobTimeout := fs.Duration("job-timeout", 2*time.Minute, "how long the job may take to succeed")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		return ExitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "smoke: unexpected arguments %q\n", fs.Args())
		return ExitUsage
	}
	t, err := FindTarget(*outputs, *stack, devDir)
	if err != nil {
		fmt.Fprintf(stderr, "smoke: %v\n", err)
		return ExitUsage
	}
	client, err := cognitoClient(ctx, t)
	if err != nil {
		fmt.Fprintf(stderr, "smoke: %v\n", err)
		return ExitUsage
	}
	start := time.Now()
	res, err := Run(ctx, t, Options{Cognito: client, Out: stdout, JobTimeout: *jobTimeout})
	if err != nil {
		fmt.Fprintf(stderr, "smoke: %v\n", err)
		return ExitFailed
	}
	took := time.Since(start).Round(100 * time.Millisecond)
	if !res.OK() {
		fmt.Fprintf(stdout, "smoke: FAILED: %d of %d checks failed (%s)\n", res.Failed, res.Passed+res.Failed, took)
		return ExitFailed
	}
	fmt.Fprintf(stdout, "smoke: all %d checks passed (%s)\n", res.Passed, took)
	return ExitOK
}

// cognitoClient is the user pool's API: deployed, with the caller's AWS
// credentials; under make dev, cognito-local, which checks none.
func cognitoClient(ctx context.Context, t Target) (*cip.Client, error) {
	if t.Deployed {
		cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(t.Region))
		if err != nil {
			return nil, fmt.Errorf("AWS credentials: %w", err)
		}
		return cip.NewFromConfig(cfg), nil
	}
	return cip.New(cip.Options{
		Region:       t.Region,
		BaseEndpoint: aws.String(t.CognitoEndpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("smoke", "smoke", ""),
	}), nil
}
