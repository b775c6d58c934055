package promptqstack

import (
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// nag is a suppression of rule id for a whole resource, with its reason.
func nag(id, reason string) *cdknag.NagPackSuppression {
	return &cdknag.NagPackSuppression{Id: jsii.String(id), Reason: jsii.String(reason)}
}

// nagFor is a suppression limited to the named findings (for IAM4/IAM5:
// which policy or which action/resource): exact strings, or patterns made
// with nagRegex.
func nagFor(id, reason string, appliesTo ...any) *cdknag.NagPackSuppression {
	s := nag(id, reason)
	list := make([]any, len(appliesTo))
	for i, a := range appliesTo {
		if str, ok := a.(string); ok {
			a = jsii.String(str)
		}
		list[i] = a
	}
	s.AppliesTo = &list
	return s
}

// nagRegex matches findings by a JavaScript regular expression literal
// ("/^...$/"), for findings whose text depends on the stack's environment.
func nagRegex(re string) *cdknag.RegexAppliesTo {
	return &cdknag.RegexAppliesTo{Regex: jsii.String(re)}
}

// suppress records suppressions on c and its children.
func suppress(c constructs.IConstruct, s ...*cdknag.NagPackSuppression) {
	cdknag.NagSuppressions_AddResourceSuppressions(c, &s, jsii.Bool(true))
}
