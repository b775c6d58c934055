package smoke

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/promptq/promptq/internal/dev/devstack/devinfo"
)

// Target is what is checked: a deployed stack or the dev stack.
type Target struct {
	// Describe says which, for the first line of the output.
	Describe string
	// Deployed is true for a stack in AWS: the site and the API must be
	// HTTPS and the page must carry the security headers.
	Deployed bool

	SiteURL         string // the web app, no trailing slash
	APIURL          string // the API's base URL, no trailing slash
	Region          string
	UserPoolID      string
	ClientID        string
	CognitoEndpoint string // "" for AWS's own endpoint of Region
}

// stackOutputs is the part of `cdk deploy --outputs-file` the smoke test
// reads: {"<stack name>": {"SiteUrl": ..., ...}}.
type stackOutputs map[string]map[string]string

// ErrNoTarget means neither a deployed stack's outputs nor a running dev
// stack were found.
var ErrNoTarget = errors.New("nothing to check: no deployed stack's outputs and no running dev stack (run make deploy or make dev first)")

// FindTarget reads the outputs of stack in outputsFile; when that file
// does not exist, the dev stack's dev.json in devDir.
func FindTarget(outputsFile, stack, devDir string) (Target, error) {
	b, err := os.ReadFile(outputsFile)
	switch {
	case err == nil:
		return deployedTarget(outputsFile, stack, b)
	case !errors.Is(err, fs.ErrNotExist):
		return Target{}, fmt.Errorf("read the stack's outputs: %w", err)
	}
	info, err := devinfo.Read(devDir)
	if errors.Is(err, devinfo.ErrNotRunning) {
		return Target{}, ErrNoTarget
	}
	if err != nil {
		return Target{}, fmt.Errorf("read the dev stack's settings: %w", err)
	}
	return Target{
		Describe:        "make dev (" + devinfo.Path(devDir) + ")",
		SiteURL:         strings.TrimRight(info.WebURL, "/"),
		APIURL:          strings.TrimRight(info.APIURL, "/"),
		Region:          info.Region,
		UserPoolID:      info.UserPoolID,
		ClientID:        info.ClientID,
		CognitoEndpoint: info.CognitoEndpoint,
	}, nil
}

func deployedTarget(file, stack string, b []byte) (Target, error) {
	var all stackOutputs
	if err := json.Unmarshal(b, &all); err != nil {
		return Target{}, fmt.Errorf("%s: %w", file, err)
	}
	o, ok := all[stack]
	if !ok {
		return Target{}, fmt.Errorf("%s has no outputs of stack %s", file, stack)
	}
	t := Target{
		Describe:   "the deployed stack " + stack + " (" + file + ")",
		Deployed:   true,
		SiteURL:    strings.TrimRight(o["SiteUrl"], "/"),
		APIURL:     strings.TrimRight(o["ApiUrl"], "/"),
		Region:     o["Region"],
		UserPoolID: o["UserPoolId"],
		ClientID:   o["UserPoolClientId"],
		// AWS's own endpoint; the SDK finds it from the region.
		CognitoEndpoint: "",
	}
	var missing []string
	for k, v := range map[string]string{"SiteUrl": t.SiteURL, "ApiUrl": t.APIURL, "Region": t.Region,
		"UserPoolId": t.UserPoolID, "UserPoolClientId": t.ClientID} {
		if v == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return Target{}, fmt.Errorf("%s: stack %s lacks the outputs %s (deployed with an older stack? run make deploy)", file, stack, strings.Join(missing, ", "))
	}
	return t, nil
}
