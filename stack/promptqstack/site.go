package promptqstack

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudfront"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudfrontorigins"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3assets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3deployment"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// ConfigObject is the object key of the generated site configuration.
const ConfigObject = "config.json"

// HeadersFile, in web/, is the one definition of the site's response
// headers: make dev's web server sends them as written, and the stack turns
// them into the distribution's response headers policy.
const HeadersFile = "security-headers.json"

// placeholderPage is served when the stack is deployed before web/ exists.
const placeholderPage = `<!doctype html><meta charset="utf-8"><title>promptq</title>` +
	`<p>promptq is deployed; the web app (web/) was not built when this stack was.</p>`

type site struct {
	Bucket       awss3.Bucket
	Logs         awss3.Bucket
	Distribution awscloudfront.Distribution
}

// newSite is a private bucket served only through CloudFront with origin
// access control, over HTTPS. Its responses carry CloudFront's managed
// security headers until useSiteHeaders replaces them with web/'s.
func newSite(s awscdk.Stack, cfg Config) site {
	// Access logs of the site bucket and of CloudFront. CloudFront's
	// standard logs are delivered with ACLs, so this bucket (and only this
	// one) keeps ACLs enabled; it stays private.
	logsRemoval, logsAutoDelete := awscdk.RemovalPolicy_DESTROY, true
	if cfg.DeletionProtection {
		logsRemoval, logsAutoDelete = awscdk.RemovalPolicy_RETAIN, false
	}
	logs := awss3.NewBucket(s, jsii.String("AccessLogs"), &awss3.BucketProps{
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
		Encryption:        awss3.BucketEncryption_S3_MANAGED,
		EnforceSSL:        jsii.Bool(true),
		ObjectOwnership:   awss3.ObjectOwnership_BUCKET_OWNER_PREFERRED,
		LifecycleRules: &[]*awss3.LifecycleRule{{
			Id:         jsii.String("expire-access-logs"),
			Expiration: awscdk.Duration_Days(jsii.Number(90)),
		}},
		RemovalPolicy:     logsRemoval,
		AutoDeleteObjects: jsii.Bool(logsAutoDelete),
	})
	suppress(logs, nag("AwsSolutions-S1", "This is the access-log bucket; logging it into itself would log its own log deliveries."))

	bucket := awss3.NewBucket(s, jsii.String("Site"), &awss3.BucketProps{
		BlockPublicAccess:      awss3.BlockPublicAccess_BLOCK_ALL(),
		Encryption:             awss3.BucketEncryption_S3_MANAGED,
		EnforceSSL:             jsii.Bool(true),
		ObjectOwnership:        awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		ServerAccessLogsBucket: logs,
		ServerAccessLogsPrefix: jsii.String("site-bucket/"),
		// Its content is rebuilt from web/ on every deploy.
		RemovalPolicy:     awscdk.RemovalPolicy_DESTROY,
		AutoDeleteObjects: jsii.Bool(true),
	})

	dist := awscloudfront.NewDistribution(s, jsii.String("Cdn"), &awscloudfront.DistributionProps{
		Comment: jsii.String("promptq web app"),
		DefaultBehavior: &awscloudfront.BehaviorOptions{
			Origin:                awscloudfrontorigins.S3BucketOrigin_WithOriginAccessControl(bucket, nil),
			ViewerProtocolPolicy:  awscloudfront.ViewerProtocolPolicy_REDIRECT_TO_HTTPS,
			AllowedMethods:        awscloudfront.AllowedMethods_ALLOW_GET_HEAD(),
			CachePolicy:           awscloudfront.CachePolicy_CACHING_OPTIMIZED(),
			ResponseHeadersPolicy: awscloudfront.ResponseHeadersPolicy_SECURITY_HEADERS(),
			Compress:              jsii.Bool(true),
		},
		DefaultRootObject: jsii.String("index.html"),
		HttpVersion:       awscloudfront.HttpVersion_HTTP2_AND_3,
		// North America and Europe edges only: the cheapest class.
		PriceClass:    awscloudfront.PriceClass_PRICE_CLASS_100,
		EnableLogging: jsii.Bool(true),
		LogBucket:     logs,
		LogFilePrefix: jsii.String("cloudfront/"),
	})
	suppress(dist,
		nag("AwsSolutions-CFR1", "No geo restriction: the product is offered wherever its users are; sign-up is the gate."),
		nag("AwsSolutions-CFR2", "No WAF: a web ACL has a monthly fee even while idle, and the site is static files; the API is protected by Cognito and throttling."),
		nag("AwsSolutions-CFR4", "The default *.cloudfront.net certificate cannot pin a minimum TLS version; that needs a custom domain and ACM certificate, which this stack does not assume."),
	)
	return site{Bucket: bucket, Logs: logs, Distribution: dist}
}

// deploySite uploads web/ (or a placeholder page) and config.json, then
// invalidates CloudFront so browsers see the new files.
func deploySite(s awscdk.Stack, cfg Config, st site, config map[string]any) error {
	var sources []awss3deployment.ISource
	if cfg.webDirExists() {
		sources = append(sources, awss3deployment.Source_Asset(jsii.String(cfg.WebDir), &awss3assets.AssetOptions{
			Exclude: jsii.Strings("node_modules", ".*", "*.test.*", "package.json", "package-lock.json"),
		}))
	} else {
		sources = append(sources, awss3deployment.Source_Data(jsii.String("index.html"), jsii.String(placeholderPage), nil))
	}
	// Last, so it wins over any config.json web/ carries for development.
	sources = append(sources, awss3deployment.Source_JsonData(jsii.String(ConfigObject), config, nil))

	logs := awslogs.NewLogGroup(s, jsii.String("SiteDeploymentLogs"), &awslogs.LogGroupProps{
		Retention:     awslogs.RetentionDays_ONE_WEEK,
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	dep := awss3deployment.NewBucketDeployment(s, jsii.String("SiteDeployment"), &awss3deployment.BucketDeploymentProps{
		Sources:           &sources,
		DestinationBucket: st.Bucket,
		Distribution:      st.Distribution,
		DistributionPaths: jsii.Strings("/*"),
		Prune:             jsii.Bool(true),
		RetainOnDelete:    jsii.Bool(false),
		MemoryLimit:       jsii.Number(256),
		LogGroup:          logs,
	})
	if err := scopeInvalidation(s, dep.HandlerRole(), st.Distribution.DistributionArn()); err != nil {
		return err
	}

	// The upload runs in CDK's own handler function (one per stack); what
	// cdk-nag finds in it is CDK's, explained here.
	handler := findChild(s, "Custom::CDKBucketDeployment")
	if handler == nil {
		return errors.New("site deployment: CDK's BucketDeployment handler was not found")
	}
	suppress(handler,
		nagFor("AwsSolutions-IAM4", "CDK's deployment handler uses AWSLambdaBasicExecutionRole for its logs; it runs only during deploys.",
			nagRegex(`/^Policy::arn:(<AWS::Partition>|aws[-a-z]*):iam::aws:policy\/service-role\/AWSLambdaBasicExecutionRole$/`)),
		nagFor("AwsSolutions-IAM5", "CDK's deployment handler reads the asset zips from the bootstrap assets bucket and syncs (put, delete, list) the site bucket's objects, whose keys are only known at deploy time; both are scoped to those two buckets.",
			"Action::s3:GetBucket*", "Action::s3:GetObject*", "Action::s3:List*", "Action::s3:Abort*", "Action::s3:DeleteObject*",
			// The bootstrap assets bucket; region and partition are literal
			// when the stack has an environment (as under the CDK CLI).
			nagRegex(`/^Resource::arn:(<AWS::Partition>|aws[-a-z]*):s3:::cdk-[a-z0-9]+-assets-[^/]+\/\*$/`),
			"Resource::<"+*awscdk.Stack_Of(st.Bucket).GetLogicalId(st.Bucket.Node().DefaultChild().(awscdk.CfnElement))+".Arn>/*"),
		nagFor("AwsSolutions-IAM5", "CDK writes the invalidation statement with Resource \"*\"; scopeInvalidation overrides it to this distribution's ARN in the template (cdk-nag reads the statement before the override). The stack test asserts no IAM statement in the template has a \"*\" resource.",
			"Resource::*"),
		nag("AwsSolutions-L1", "The runtime of CDK's deployment handler is chosen by aws-cdk-lib (python3.13 in this version), not by this stack; it moves with CDK upgrades."),
	)
	return nil
}

// scopeInvalidation narrows the CloudFront statement CDK gives the
// deployment handler (cloudfront:CreateInvalidation and GetInvalidation on
// "*") to the one distribution it invalidates.
func scopeInvalidation(s awscdk.Stack, role awsiam.IRole, distributionArn *string) error {
	child := role.Node().TryFindChild(jsii.String("DefaultPolicy"))
	policy, ok := child.(awsiam.Policy)
	if !ok {
		return fmt.Errorf("site deployment: the handler role has no default policy (got %T)", child)
	}
	doc, ok := s.Resolve(policy.Document()).(map[string]any)
	if !ok {
		return errors.New("site deployment: the handler policy did not resolve to an object")
	}
	statements, _ := doc["Statement"].([]any)
	for i, st := range statements {
		m, _ := st.(map[string]any)
		if m["Resource"] != "*" || !mentions(m["Action"], "cloudfront:CreateInvalidation") {
			continue
		}
		cfn, ok := policy.Node().DefaultChild().(awsiam.CfnPolicy)
		if !ok {
			return errors.New("site deployment: the handler policy has no CfnPolicy")
		}
		cfn.AddPropertyOverride(jsii.String(fmt.Sprintf("PolicyDocument.Statement.%d.Resource", i)), distributionArn)
		return nil
	}
	return errors.New("site deployment: CDK's invalidation statement was not found; check scopeInvalidation against this CDK version")
}

// mentions says whether an IAM Action value (a string or a list) names a.
func mentions(actions any, a string) bool {
	switch v := actions.(type) {
	case string:
		return v == a
	case []any:
		for _, e := range v {
			if e == a {
				return true
			}
		}
	}
	return false
}

// findChild is the direct child of c whose id starts with prefix.
func findChild(c constructs.IConstruct, prefix string) constructs.IConstruct {
	for _, child := range *c.Node().Children() {
		if strings.HasPrefix(*child.Node().Id(), prefix) {
			return child
		}
	}
	return nil
}

// useSiteHeaders gives the distribution a response headers policy made from
// web/'s HeadersFile, with {api_origin} and {cognito_origin} (which the
// Content-Security-Policy lets the page call) filled in. The distribution
// exists before the API (whose CORS names the site), so the policy is set
// on it afterwards. The placeholder page (no web/) keeps the managed
// security headers.
func useSiteHeaders(s awscdk.Stack, cfg Config, st site, apiOrigin, cognitoOrigin *string) error {
	if !cfg.webDirExists() {
		return nil
	}
	file := filepath.Join(cfg.WebDir, HeadersFile)
	b, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("site headers: %w", err)
	}
	var f struct {
		Headers map[string]string `json:"headers"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("site headers: %s: %w", file, err)
	}
	if len(f.Headers) == 0 {
		return fmt.Errorf("site headers: %s has no headers", file)
	}
	fill := strings.NewReplacer("{api_origin}", *apiOrigin, "{cognito_origin}", *cognitoOrigin)
	security := &awscloudfront.ResponseSecurityHeadersBehavior{}
	var custom []*awscloudfront.ResponseCustomHeader
	names := make([]string, 0, len(f.Headers))
	for name := range f.Headers {
		names = append(names, name)
	}
	slices.Sort(names)
	var errs []error
	for _, name := range names {
		v := f.Headers[name]
		// (Checked before filling in: CDK's tokens carry braces.)
		if strings.ContainsAny(strings.NewReplacer("{api_origin}", "", "{cognito_origin}", "").Replace(v), "{}") {
			errs = append(errs, fmt.Errorf("%s: a placeholder other than {api_origin} and {cognito_origin}", name))
			continue
		}
		if err := securityHeader(security, strings.ToLower(name), fill.Replace(v)); err == errNotSecurity {
			custom = append(custom, &awscloudfront.ResponseCustomHeader{Header: jsii.String(name), Value: jsii.String(fill.Replace(v)), Override: jsii.Bool(true)})
		} else if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("site headers: %s: %w", file, err)
	}
	props := &awscloudfront.ResponseHeadersPolicyProps{
		Comment:                 jsii.String("promptq web app: the headers of web/" + HeadersFile),
		SecurityHeadersBehavior: security,
	}
	if len(custom) > 0 {
		props.CustomHeadersBehavior = &awscloudfront.ResponseCustomHeadersBehavior{CustomHeaders: &custom}
	}
	policy := awscloudfront.NewResponseHeadersPolicy(s, jsii.String("SiteHeaders"), props)
	cfn, ok := st.Distribution.Node().DefaultChild().(awscloudfront.CfnDistribution)
	if !ok {
		return errors.New("site headers: the distribution has no CfnDistribution")
	}
	cfn.AddPropertyOverride(jsii.String("DistributionConfig.DefaultCacheBehavior.ResponseHeadersPolicyId"), policy.ResponseHeadersPolicyId())
	return nil
}

var errNotSecurity = errors.New("not one of CloudFront's security headers")

var hstsPattern = regexp.MustCompile(`^max-age=(\d+)(; includeSubDomains)?(; preload)?$`)

// securityHeader sets the header CloudFront writes itself (its security
// headers), refusing values it cannot write; other headers are
// errNotSecurity, for the custom headers.
func securityHeader(b *awscloudfront.ResponseSecurityHeadersBehavior, name, v string) error {
	switch name {
	case "content-security-policy":
		b.ContentSecurityPolicy = &awscloudfront.ResponseHeadersContentSecurityPolicy{ContentSecurityPolicy: jsii.String(v), Override: jsii.Bool(true)}
	case "strict-transport-security":
		m := hstsPattern.FindStringSubmatch(v)
		if m == nil {
			return fmt.Errorf("%q: write it as CloudFront does, max-age=N[; includeSubDomains][; preload]", v)
		}
		age, err := strconv.Atoi(m[1])
		if err != nil {
			return err
		}
		b.StrictTransportSecurity = &awscloudfront.ResponseHeadersStrictTransportSecurity{
			AccessControlMaxAge: awscdk.Duration_Seconds(jsii.Number(age)),
			IncludeSubdomains:   jsii.Bool(m[2] != ""),
			Preload:             jsii.Bool(m[3] != ""),
			Override:            jsii.Bool(true),
		}
	case "x-content-type-options":
		if v != "nosniff" {
			return fmt.Errorf("%q: CloudFront writes only nosniff", v)
		}
		b.ContentTypeOptions = &awscloudfront.ResponseHeadersContentTypeOptions{Override: jsii.Bool(true)}
	case "x-frame-options":
		if v != "DENY" && v != "SAMEORIGIN" {
			return fmt.Errorf("%q: CloudFront writes DENY or SAMEORIGIN", v)
		}
		b.FrameOptions = &awscloudfront.ResponseHeadersFrameOptions{FrameOption: awscloudfront.HeadersFrameOption(v), Override: jsii.Bool(true)}
	case "referrer-policy":
		if !slices.Contains([]string{"no-referrer", "no-referrer-when-downgrade", "origin", "origin-when-cross-origin",
			"same-origin", "strict-origin", "strict-origin-when-cross-origin", "unsafe-url"}, v) {
			return fmt.Errorf("%q is not a referrer policy CloudFront writes", v)
		}
		b.ReferrerPolicy = &awscloudfront.ResponseHeadersReferrerPolicy{
			ReferrerPolicy: awscloudfront.HeadersReferrerPolicy(strings.ToUpper(strings.ReplaceAll(v, "-", "_"))),
			Override:       jsii.Bool(true),
		}
	case "x-xss-protection":
		return errors.New("not supported here; leave it out (modern browsers ignore it)")
	default:
		return errNotSecurity
	}
	return nil
}
