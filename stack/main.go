// Command stack is promptq's CDK app: `cdk synth`, `cdk deploy` and
// `cdk destroy` run it (see cdk.json and the Makefile's stack targets).
package main

import (
	"fmt"
	"os"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/promptq/promptq/stack/promptqstack"
)

func main() {
	defer jsii.Close()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "stack:", err)
		os.Exit(1)
	}
}

func run() error {
	app := awscdk.NewApp(nil)
	cfg, err := promptqstack.ConfigFromContext(func(key string) any {
		return app.Node().TryGetContext(jsii.String(key))
	})
	if err != nil {
		return err
	}
	// The account and region of the caller's credentials, as the CDK CLI
	// resolves them; unset (an environment-agnostic template) for synth
	// without credentials.
	var env *awscdk.Environment
	if region := os.Getenv("CDK_DEFAULT_REGION"); region != "" {
		env = &awscdk.Environment{Region: jsii.String(region)}
		if account := os.Getenv("CDK_DEFAULT_ACCOUNT"); account != "" {
			env.Account = jsii.String(account)
		}
	}
	if _, err := promptqstack.New(app, "Promptq", cfg, &awscdk.StackProps{Env: env}); err != nil {
		return err
	}
	// Every synth is checked against the AwsSolutions pack; the CLI fails
	// on an unsuppressed error.
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	app.Synth(nil)
	return nil
}
