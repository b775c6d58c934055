package promptqstack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigateway"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscognito"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awswafv2"
	"github.com/aws/jsii-runtime-go"

	"github.com/promptq/promptq/internal/corsrules"
)

// Route is one method of the API contract (docs/openapi.yaml).
type Route struct{ Method, Path string }

// Routes are the API's routes; every one needs a Cognito access token.
var Routes = []Route{
	{"POST", "/generate"},
	{"POST", "/generate/batch"},
	{"GET", "/jobs"},
	{"GET", "/jobs/{id}"},
	{"POST", "/jobs/{id}/cancel"},
	{"GET", "/usage"},
}

// AccessTokenScope is in every Cognito access token issued through the user
// pool API (InitiateAuth). Naming a scope on a method makes API Gateway's
// Cognito authorizer accept access tokens (and only those); without one it
// would expect ID tokens.
const AccessTokenScope = "aws.cognito.signin.user.admin"

// accessLogFormat is one JSON object per request. It carries no token, no
// query string and no body: the path holds at most a job id.
const accessLogFormat = `{"requestId":"$context.requestId","ip":"$context.identity.sourceIp",` +
	`"requestTime":"$context.requestTime","method":"$context.httpMethod",` +
	`"resourcePath":"$context.resourcePath","path":"$context.path","status":"$context.status",` +
	`"protocol":"$context.protocol","responseLength":"$context.responseLength",` +
	`"responseLatency":"$context.responseLatency","integrationLatency":"$context.integrationLatency",` +
	`"user":"$context.authorizer.claims.sub","errorType":"$context.error.responseType",` +
	`"errorMessage":"$context.error.message","xrayTraceId":"$context.xrayTraceId"}`

// gatewayError is one of API Gateway's own responses, rewritten into the
// API's error shape so clients see one format whether the gateway or the
// function answered.
type gatewayError struct {
	id, status, code, message string
	responseType              awsapigateway.ResponseType
}

func gatewayErrors() []gatewayError {
	return []gatewayError{
		// No, expired or malformed token, or one of another pool: the
		// Cognito authorizer.
		{"Unauthorized", "401", "unauthorized",
			"A valid Cognito access token is required in the Authorization header (Bearer).",
			awsapigateway.ResponseType_UNAUTHORIZED()},
		// A token without the access-token scope (an ID token, say).
		{"AccessDenied", "403", "unauthorized",
			"The token is not allowed to call this API: send a Cognito access token.",
			awsapigateway.ResponseType_ACCESS_DENIED()},
		// API Gateway says "Missing Authentication Token" for a path it has
		// no route for; the API says 404.
		{"NoRoute", "404", "not_found",
			"There is no such route.",
			awsapigateway.ResponseType_MISSING_AUTHENTICATION_TOKEN()},
		{"Throttled", "429", "rate_limited",
			"Too many requests: wait a little and try again.",
			awsapigateway.ResponseType_THROTTLED()},
		{"TooLarge", "413", "payload_too_large",
			"The request body is too large.",
			awsapigateway.ResponseType_REQUEST_TOO_LARGE()},
		{"Default4xx", "", "invalid_request",
			"The request was rejected by the API gateway.",
			awsapigateway.ResponseType_DEFAULT_4XX()},
		{"Default5xx", "", "internal",
			"Internal error: please try again later.",
			awsapigateway.ResponseType_DEFAULT_5XX()},
	}
}

// newRestAPI is the REST API with the Cognito authorizer on every route.
func newRestAPI(s awscdk.Stack, cfg Config, fn awslambda.Function, pool awscognito.UserPool, webOrigin *string) awsapigateway.RestApi {
	accessLogs := awslogs.NewLogGroup(s, jsii.String("ApiAccessLogs"), &awslogs.LogGroupProps{
		Retention:     awslogs.RetentionDays_ONE_MONTH,
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	api := awsapigateway.NewRestApi(s, jsii.String("Api"), &awsapigateway.RestApiProps{
		Description:   jsii.String("promptq API"),
		EndpointTypes: &[]awsapigateway.EndpointType{awsapigateway.EndpointType_REGIONAL},
		// API Gateway writes logs only once the account has a CloudWatch
		// role; see Config.APIGatewayLogRole.
		CloudWatchRole: jsii.Bool(cfg.APIGatewayLogRole),
		DeployOptions: &awsapigateway.StageOptions{
			StageName: jsii.String(stageName),
			// For all callers together (Config.ThrottleRateLimit says how
			// it is sized); each user is held to the API's per-user
			// request rate, and optionally to the WAF rule below.
			ThrottlingRateLimit:  jsii.Number(float64(cfg.ThrottleRateLimit)),
			ThrottlingBurstLimit: jsii.Number(float64(cfg.ThrottleBurstLimit)),
			AccessLogDestination: awsapigateway.NewLogGroupLogDestination(accessLogs),
			AccessLogFormat:      awsapigateway.AccessLogFormat_Custom(jsii.String(accessLogFormat)),
			// Execution logs for errors only, and never request or response
			// bodies (prompts, generated text) or headers (tokens).
			LoggingLevel:     awsapigateway.MethodLoggingLevel_ERROR,
			DataTraceEnabled: jsii.Bool(false),
			TracingEnabled:   jsii.Bool(true),
		},
		// Preflight for the site's origin only. The function sets the same
		// origin on its own responses (PROMPTQ_WEB_ORIGIN).
		DefaultCorsPreflightOptions: &awsapigateway.CorsOptions{
			AllowOrigins: &[]*string{webOrigin},
			AllowMethods: jsii.Strings(corsrules.Methods...),
			AllowHeaders: jsii.Strings(corsrules.RequestHeaders...),
			MaxAge:       awscdk.Duration_Hours(jsii.Number(1)),
		},
	})
	if cfg.APIGatewayLogRole {
		// CloudWatchRole creates the role API Gateway logs with, using the
		// managed policy AWS documents for it.
		suppress(api.Node().FindChild(jsii.String("CloudWatchRole")),
			nagFor("AwsSolutions-IAM4", "The account-wide API Gateway logging role uses AmazonAPIGatewayPushToCloudWatchLogs, the policy AWS documents for it; API Gateway (not our code) assumes it.",
				nagRegex(`/^Policy::arn:(<AWS::Partition>|aws[-a-z]*):iam::aws:policy\/service-role\/AmazonAPIGatewayPushToCloudWatchLogs$/`)))
	}
	if cfg.WAFRateLimit > 0 {
		newRateLimitACL(s, cfg, api, webOrigin)
	} else {
		suppress(api,
			nag("AwsSolutions-APIG3", "The WAF web ACL is optional (promptq:wafRateLimit): it costs a monthly fee even while idle. Unauthenticated requests are stopped by the Cognito authorizer before any Lambda runs, each user is held to a request rate by the API, and the stage is throttled."),
		)
	}

	for _, g := range gatewayErrors() {
		props := &awsapigateway.GatewayResponseOptions{
			Type: g.responseType,
			ResponseHeaders: &map[string]*string{
				"Access-Control-Allow-Origin": quoted(webOrigin),
				"Vary":                        jsii.String("'Origin'"),
			},
			Templates: &map[string]*string{
				"application/json": jsii.String(`{"error":{"code":"` + g.code + `","message":"` + g.message + `"}}`),
			},
		}
		if g.status != "" {
			props.StatusCode = jsii.String(g.status)
		}
		if g.status == "401" {
			(*props.ResponseHeaders)["WWW-Authenticate"] = jsii.String("'Bearer'")
		}
		api.AddGatewayResponse(jsii.String(g.id), props)
	}

	authorizer := awsapigateway.NewCognitoUserPoolsAuthorizer(s, jsii.String("Authorizer"), &awsapigateway.CognitoUserPoolsAuthorizerProps{
		CognitoUserPools: &[]awscognito.IUserPool{pool},
		IdentitySource:   jsii.String("method.request.header.Authorization"),
	})
	// Required to pass cdk-nag's APIG2. Parameters: the Authorization header
	// must be there. Bodies: no request models are attached, so nothing is
	// checked at the gateway; the function validates every body against the
	// contract (one place, one error format).
	validator := api.AddRequestValidator(jsii.String("Validator"), &awsapigateway.RequestValidatorOptions{
		ValidateRequestParameters: jsii.Bool(true),
		ValidateRequestBody:       jsii.Bool(true),
	})
	integration := awsapigateway.NewLambdaIntegration(fn, &awsapigateway.LambdaIntegrationOptions{
		Proxy: jsii.Bool(true),
		// One permission for the whole API instead of two per method.
		ScopePermissionToMethod: jsii.Bool(false),
	})
	for _, r := range Routes {
		res := api.Root().ResourceForPath(jsii.String(r.Path))
		res.AddMethod(jsii.String(r.Method), integration, &awsapigateway.MethodOptions{
			AuthorizationType:   awsapigateway.AuthorizationType_COGNITO,
			Authorizer:          authorizer,
			AuthorizationScopes: jsii.Strings(AccessTokenScope),
			RequestValidator:    validator,
			RequestParameters: &map[string]*bool{
				"method.request.header.Authorization": jsii.Bool(true),
			},
		})
	}
	return api
}

// quoted makes a static gateway-response header value: a literal in single
// quotes.
func quoted(v *string) *string {
	return awscdk.Fn_Join(jsii.String(""), &[]*string{jsii.String("'"), v, jsii.String("'")})
}

// wafRateLimitedBody is the web ACL's answer to a client over its rate: the
// API's error shape, so clients handle it as the API's own 429.
const wafRateLimitedBody = `{"error":{"code":"rate_limited","field":"requests","message":` +
	`"Too many requests from this client: wait as Retry-After says, then go on."}}`

// rateKeyTransformations normalise the Authorization header before WAF
// counts it, so that one token is one key however its scheme is spelt: the
// API takes "Bearer", "bearer", "BEARER" and any other case (RFC 6750),
// and keyed on the raw value a client would get the limit once for each
// of the 64 spellings. Whitespace runs become one space first: the API
// refuses other whitespace with a 401, but only after the function ran,
// so those requests must count too. Lowering the case lowers the token as
// well; two tokens that differ in case only are the same key, which two
// Cognito tokens never are.
func rateKeyTransformations() []any {
	var ts []any
	for i, t := range []string{"COMPRESS_WHITE_SPACE", "LOWERCASE"} {
		ts = append(ts, &awswafv2.CfnWebACL_TextTransformationProperty{Priority: jsii.Number(float64(i)), Type: jsii.String(t)})
	}
	return ts
}

// newRateLimitACL puts a WAF web ACL on the API stage with one rate-based
// rule keyed on the Authorization header (rateKeyTransformations: any case
// of the scheme is one key): a client (one access token) that
// sends more than cfg.WAFRateLimit requests in a minute is answered 429
// with Retry-After before API Gateway counts the request against the
// stage throttle or invokes the function. It is for clients that ignore
// the API's own per-user 429s; set it above the API's per-user rate (600
// a minute by default) so that well-behaved clients never meet it.
// Requests without the header are not counted by it (the Cognito
// authorizer refuses them without running a function).
func newRateLimitACL(s awscdk.Stack, cfg Config, api awsapigateway.RestApi, webOrigin *string) {
	const rule = "PerClientRate"
	acl := awswafv2.NewCfnWebACL(s, jsii.String("ApiWebAcl"), &awswafv2.CfnWebACLProps{
		Description:   jsii.String("promptq: per-client request rate on the API"),
		Scope:         jsii.String("REGIONAL"),
		DefaultAction: &awswafv2.CfnWebACL_DefaultActionProperty{Allow: &awswafv2.CfnWebACL_AllowActionProperty{}},
		CustomResponseBodies: map[string]*awswafv2.CfnWebACL_CustomResponseBodyProperty{
			"rate_limited": {ContentType: jsii.String("APPLICATION_JSON"), Content: jsii.String(wafRateLimitedBody)},
		},
		Rules: []any{&awswafv2.CfnWebACL_RuleProperty{
			Name:     jsii.String(rule),
			Priority: jsii.Number(0),
			Statement: &awswafv2.CfnWebACL_StatementProperty{
				RateBasedStatement: &awswafv2.CfnWebACL_RateBasedStatementProperty{
					Limit:               jsii.Number(float64(cfg.WAFRateLimit)),
					EvaluationWindowSec: jsii.Number(60),
					AggregateKeyType:    jsii.String("CUSTOM_KEYS"),
					CustomKeys: []any{&awswafv2.CfnWebACL_RateBasedStatementCustomKeyProperty{
						Header: &awswafv2.CfnWebACL_RateLimitHeaderProperty{
							Name:                jsii.String("authorization"),
							TextTransformations: rateKeyTransformations(),
						},
					}},
				},
			},
			Action: &awswafv2.CfnWebACL_RuleActionProperty{Block: &awswafv2.CfnWebACL_BlockActionProperty{
				CustomResponse: &awswafv2.CfnWebACL_CustomResponseProperty{
					ResponseCode:          jsii.Number(429),
					CustomResponseBodyKey: jsii.String("rate_limited"),
					ResponseHeaders: []any{
						// WAF counts over the last minute: a client that
						// waits that long starts afresh.
						&awswafv2.CfnWebACL_CustomHTTPHeaderProperty{Name: jsii.String("Retry-After"), Value: jsii.String("60")},
						// So the browser lets the page read the 429.
						&awswafv2.CfnWebACL_CustomHTTPHeaderProperty{Name: jsii.String("Access-Control-Allow-Origin"), Value: webOrigin},
						&awswafv2.CfnWebACL_CustomHTTPHeaderProperty{Name: jsii.String("Vary"), Value: jsii.String("Origin")},
					},
				},
			}},
			// Metrics only: sampled requests would keep request headers,
			// access tokens among them.
			VisibilityConfig: &awswafv2.CfnWebACL_VisibilityConfigProperty{
				CloudWatchMetricsEnabled: jsii.Bool(true),
				MetricName:               jsii.String("promptq-" + rule),
				SampledRequestsEnabled:   jsii.Bool(false),
			},
		}},
		VisibilityConfig: &awswafv2.CfnWebACL_VisibilityConfigProperty{
			CloudWatchMetricsEnabled: jsii.Bool(true),
			MetricName:               jsii.String("promptq-api"),
			SampledRequestsEnabled:   jsii.Bool(false),
		},
	})
	awswafv2.NewCfnWebACLAssociation(s, jsii.String("ApiWebAclAssociation"), &awswafv2.CfnWebACLAssociationProps{
		ResourceArn: api.DeploymentStage().StageArn(),
		WebAclArn:   acl.AttrArn(),
	})
}
