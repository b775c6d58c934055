package promptqstack_test

import (
	"archive/zip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/promptq/promptq/internal/catalogue"
	"github.com/promptq/promptq/stack/promptqstack"
)

const haiku = "anthropic.claude-haiku-4-5-20251001-v1:0"

func TestTheStackCreatesExactlyTheseResources(t *testing.T) {
	s := defaultStack(t)
	want := map[string]int{
		"AWS::Cognito::UserPool":            1,
		"AWS::Cognito::UserPoolClient":      1,
		"AWS::DynamoDB::Table":              1,
		"AWS::SQS::Queue":                   5, // interactive, bulk, economy, dead letters, undelivered events
		"AWS::SQS::QueuePolicy":             5, // TLS only
		"AWS::Lambda::EventSourceMapping":   3, // one a lane, the jobs table's stream
		"AWS::Events::EventBus":             1, // "Job finished" events
		"AWS::CloudWatch::Dashboard":        1,
		"AWS::Lambda::EventInvokeConfig":    3, // the rescuer, collector and completion: no async retries
		"AWS::Events::Rule":                 4, // the rescuer's, collector's and completion's schedules; Bedrock's state changes of the runs
		"AWS::ApiGateway::RestApi":          1,
		"AWS::ApiGateway::Stage":            1,
		"AWS::ApiGateway::Authorizer":       1,
		"AWS::ApiGateway::RequestValidator": 1,
		"AWS::ApiGateway::Resource":         6, // generate, batch, jobs, {id}, cancel, usage
		"AWS::ApiGateway::Method":           13,
		"AWS::ApiGateway::GatewayResponse":  7,
		"AWS::ApiGateway::Account":          1,
		// API Gateway may invoke the api function, EventBridge the rescuer,
		// the collector and the completion function (twice: its schedule
		// and the runs' state changes).
		"AWS::Lambda::Permission":                5,
		"AWS::S3::Bucket":                        3, // site, access logs, economy run files
		"AWS::S3::BucketPolicy":                  3,
		"AWS::CloudFront::Distribution":          1,
		"AWS::CloudFront::OriginAccessControl":   1,
		"AWS::CloudFront::OriginAccessIdentity":  0,
		"AWS::CloudFront::ResponseHeadersPolicy": 1, // web/security-headers.json
		"Custom::CDKBucketDeployment":            1,
		"AWS::CloudWatch::Alarm":                 13, // 3 of the economy lane
		"AWS::Logs::MetricFilter":                3,  // jobs rescued, model throttles, economy runs failed
		// No web ACL unless promptq:wafRateLimit asks for one: it has a
		// monthly fee.
		"AWS::WAFv2::WebACL":            0,
		"AWS::WAFv2::WebACLAssociation": 0,
		"AWS::SNS::Topic":               1,
		"AWS::SNS::Subscription":        0, // no alarm email by default
		// api, worker, rescuer, jobevents, collector, completion, API access
		// logs, site deployment.
		"AWS::Logs::LogGroup": 8,
		// api, worker, rescuer, jobevents, API Gateway's CloudWatch role,
		// CDK's deployment and auto-delete handlers, collector, completion,
		// Bedrock's service role for the economy runs.
		"AWS::IAM::Role": 10,
		// api, worker, rescuer, jobevents, site deployment handler,
		// collector, completion, the economy service role.
		"AWS::IAM::Policy": 8,
		// api, worker, rescuer, jobevents, site deployment handler (the
		// auto-delete handler is an AWS::Lambda::Function too), collector,
		// completion.
		"AWS::Lambda::Function": 8,
	}
	for typ, n := range want {
		check(t, typ, func() { s.template.ResourceCountIs(jsii.String(typ), jsii.Number(float64(n))) })
	}
	check(t, "api method count counts 6 routes and 7 preflights", func() {
		s.template.ResourcePropertiesCountIs(jsii.String("AWS::ApiGateway::Method"),
			map[string]any{"HttpMethod": "OPTIONS"}, jsii.Number(7))
	})
}

func TestEachFunctionGetsOnlyWhatItCalls(t *testing.T) {
	s := defaultStack(t)
	// The default allow-list: Claude Haiku 5.5 and Haiku 4.5, each through
	// its US profile, which routes to its foundation model in three
	// regions.
	var models []string
	for _, m := range []string{"anthropic.claude-haiku-5-5", haiku} {
		models = append(models, "arn:${AWS::Partition}:bedrock:${AWS::Region}:${AWS::AccountId}:inference-profile/us."+m)
		for _, region := range []string{"us-east-1", "us-east-2", "us-west-2"} {
			models = append(models, "arn:${AWS::Partition}:bedrock:"+region+"::foundation-model/"+m)
		}
	}
	tests := []struct {
		function string
		want     []string
	}{
		{"ApiFunction", slices.Concat(
			expand("Allow", []string{"logs:CreateLogStream", "logs:PutLogEvents"}, "${ApiFunctionLogs.Arn}"),
			expand("Allow", []string{
				"dynamodb:BatchGetItem", "dynamodb:BatchWriteItem", "dynamodb:ConditionCheckItem", "dynamodb:DeleteItem",
				"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem",
			}, "${Jobs.Arn}"),
			expand("Allow", []string{"sqs:GetQueueAttributes", "sqs:SendMessage"}, "${JobsQueue.Arn}", "${BulkQueue.Arn}"),
			// An economy job replayed is sent again only while the economy
			// queue holds none waiting, as on the other lanes.
			expand("Allow", []string{"sqs:GetQueueAttributes", "sqs:SendMessage"}, "${EconomyQueue.Arn}"),
		)},
		{"WorkerFunction", slices.Concat(
			expand("Allow", []string{"logs:CreateLogStream", "logs:PutLogEvents"}, "${WorkerFunctionLogs.Arn}"),
			expand("Allow", []string{"dynamodb:ConditionCheckItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"}, "${Jobs.Arn}"),
			// Who is active in a lane, a model's seats, and a job's output
			// chunks: Queries of lanes', seats' and users' partitions only.
			expand("Allow", []string{"dynamodb:Query"}, `${Jobs.Arn} if {"ForAllValues:StringLike":{"dynamodb:LeadingKeys":["LANE#*","CAP#*","USER#*"]}}`),
			expand("Allow", []string{"bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"}, models...),
			// The event source mappings poll with the function's role; a job
			// that must wait is sent again on its lane.
			expand("Allow", []string{
				"sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes",
				"sqs:GetQueueUrl", "sqs:ReceiveMessage", "sqs:SendMessage",
			}, "${JobsQueue.Arn}", "${BulkQueue.Arn}"),
		)},
		{"RescuerFunction", slices.Concat(
			expand("Allow", []string{"logs:CreateLogStream", "logs:PutLogEvents"}, "${RescuerFunctionLogs.Arn}"),
			// Scan on the active index only, never the table.
			expand("Allow", []string{"dynamodb:Scan"}, "${Jobs.Arn}/index/active"),
			expand("Allow", []string{"dynamodb:GetItem", "dynamodb:UpdateItem"}, "${Jobs.Arn}"),
			// Nothing on the dead-letter queue.
			expand("Allow", []string{"sqs:GetQueueAttributes", "sqs:SendMessage"}, "${JobsQueue.Arn}", "${BulkQueue.Arn}"),
			// A stale economy job goes back to the collector.
			expand("Allow", []string{"sqs:SendMessage"}, "${EconomyQueue.Arn}"),
		)},
		{"CollectorFunction", slices.Concat(
			expand("Allow", []string{"logs:CreateLogStream", "logs:PutLogEvents"}, "${CollectorFunctionLogs.Arn}"),
			economyGrants(models),
			// It drains the economy queue and writes run inputs.
			expand("Allow", []string{"sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:ReceiveMessage"}, "${EconomyQueue.Arn}"),
			expand("Allow", []string{"s3:PutObject"}, "${EconomyRuns.Arn}/runs/*"),
		)},
		{"CompletionFunction", slices.Concat(
			expand("Allow", []string{"logs:CreateLogStream", "logs:PutLogEvents"}, "${CompletionFunctionLogs.Arn}"),
			economyGrants(models),
			// It reads run outputs.
			expand("Allow", []string{"s3:GetObject"}, "${EconomyRuns.Arn}/runs/*"),
			expand("Allow", []string{"s3:ListBucket"}, `${EconomyRuns.Arn} if {"StringLike":{"s3:prefix":["runs/*"]}}`),
		)},
		{"JobEventsFunction", slices.Concat(
			expand("Allow", []string{"logs:CreateLogStream", "logs:PutLogEvents"}, "${JobEventsFunctionLogs.Arn}"),
			// PutEvents on promptq's bus only.
			expand("Allow", []string{"events:PutEvents"}, "${JobEventsBus.Arn}"),
			// The jobs table's stream, and nothing else of the table.
			expand("Allow", []string{"dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams"}, "${Jobs.StreamArn}"),
			// The mapping's on-failure destination.
			expand("Allow", []string{"sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:SendMessage"}, "${JobEventsFailed.Arn}"),
		)},
	}
	for _, tt := range tests {
		t.Run(tt.function, func(t *testing.T) {
			_, fn := s.byName(t, tt.function)
			role, _ := fn.props()["Role"].(map[string]any)["Fn::GetAtt"].([]any)
			if len(role) == 0 {
				t.Fatalf("%s has no role reference: %v", tt.function, fn.props()["Role"])
			}
			got, managed := s.roleGrants(role[0].(string))
			sort.Strings(tt.want)
			if d := diff(got, tt.want); d != "" {
				t.Errorf("%s role statements differ:%s", tt.function, d)
			}
			if len(managed) > 0 {
				t.Errorf("%s role has managed policies %v; want none", tt.function, managed)
			}
		})
	}
}

func TestNoIAMStatementAllowsEveryActionOrEveryResource(t *testing.T) {
	s := defaultStack(t)
	var statements []string
	for id, p := range s.resources("AWS::IAM::Policy") {
		doc, _ := p.props()["PolicyDocument"].(map[string]any)
		for _, g := range s.grants(list(doc["Statement"])) {
			statements = append(statements, s.name(id)+": "+g)
		}
	}
	for id, r := range s.resources("AWS::IAM::Role") {
		for _, p := range list(r.props()["Policies"]) {
			doc, _ := p.(map[string]any)["PolicyDocument"].(map[string]any)
			for _, g := range s.grants(list(doc["Statement"])) {
				statements = append(statements, s.name(id)+": "+g)
			}
		}
	}
	if len(statements) == 0 {
		t.Fatal("found no IAM statements at all")
	}
	for _, st := range statements {
		grant, _, _ := strings.Cut(st, " if ")
		fields := strings.Fields(grant)
		action, res := fields[len(fields)-2], fields[len(fields)-1]
		if action == "*" || strings.HasSuffix(action, ":*") {
			t.Errorf("wildcard action: %s", st)
		}
		if res == "*" {
			t.Errorf("wildcard resource: %s", st)
		}
	}
}

func TestBedrockPermissionCoversEachConfiguredModel(t *testing.T) {
	s := variantStack(t)
	_, fn := s.byName(t, "WorkerFunction")
	role := fn.props()["Role"].(map[string]any)["Fn::GetAtt"].([]any)[0].(string)
	got, _ := s.roleGrants(role)
	var bedrock []string
	for _, g := range got {
		if strings.Contains(g, " bedrock:InvokeModel ") {
			bedrock = append(bedrock, strings.TrimPrefix(g, "Allow bedrock:InvokeModel "))
		}
	}
	want := []string{
		// A US profile: the profile here, the model in its three regions.
		"arn:aws:bedrock:us-west-2:123456789012:inference-profile/us." + haiku,
		"arn:aws:bedrock:us-east-1::foundation-model/" + haiku,
		"arn:aws:bedrock:us-east-2::foundation-model/" + haiku,
		"arn:aws:bedrock:us-west-2::foundation-model/" + haiku,
		// An EU profile with no configured regions: any region, this model.
		"arn:aws:bedrock:us-west-2:123456789012:inference-profile/eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
		"arn:aws:bedrock:*::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0",
		// A foundation model, invoked in the stack's region.
		"arn:aws:bedrock:us-west-2::foundation-model/anthropic.claude-haiku-5-5",
	}
	sort.Strings(want)
	if d := diff(bedrock, want); d != "" {
		t.Errorf("bedrock:InvokeModel resources differ:%s", d)
	}
	if n := len(slices.DeleteFunc(slices.Clone(got), func(g string) bool {
		return !strings.Contains(g, " bedrock:InvokeModelWithResponseStream ")
	})); n != len(want) {
		t.Errorf("InvokeModelWithResponseStream on %d resources, InvokeModel on %d; want the same set", n, len(want))
	}
}

func TestEveryRouteHasTheCognitoAuthorizerAndOnlyPreflightsDoNot(t *testing.T) {
	s := defaultStack(t)
	authorizers := s.resources("AWS::ApiGateway::Authorizer")
	if len(authorizers) != 1 {
		t.Fatalf("want one authorizer, have %d", len(authorizers))
	}
	var authorizerID string
	for id, a := range authorizers {
		authorizerID = id
		if a.props()["Type"] != "COGNITO_USER_POOLS" {
			t.Errorf("authorizer type %v, want COGNITO_USER_POOLS", a.props()["Type"])
		}
		if got := s.str(list(a.props()["ProviderARNs"])); got != `[{"Fn::GetAtt":["Users0A0EEA89","Arn"]}]` && !strings.Contains(got, "Users") {
			t.Errorf("authorizer providers %s, want the user pool", got)
		}
		if a.props()["IdentitySource"] != "method.request.header.Authorization" {
			t.Errorf("authorizer identity source %v", a.props()["IdentitySource"])
		}
	}

	paths := s.apiPaths()
	var routes []string
	for id, m := range s.resources("AWS::ApiGateway::Method") {
		p := m.props()
		route := p["HttpMethod"].(string) + " " + paths[s.str(p["ResourceId"])]
		if p["HttpMethod"] == "OPTIONS" {
			if p["AuthorizationType"] != "NONE" {
				t.Errorf("%s: preflight has authorization %v; browsers send no token with it", route, p["AuthorizationType"])
			}
			continue
		}
		routes = append(routes, route)
		if p["AuthorizationType"] != "COGNITO_USER_POOLS" {
			t.Errorf("%s (%s): authorization %v, want COGNITO_USER_POOLS", route, id, p["AuthorizationType"])
		}
		if got := s.str(p["AuthorizerId"]); got != "${"+s.name(authorizerID)+"}" {
			t.Errorf("%s: authorizer %s, want %s", route, got, s.name(authorizerID))
		}
		if got := list(p["AuthorizationScopes"]); len(got) != 1 || got[0] != promptqstack.AccessTokenScope {
			t.Errorf("%s: scopes %v, want [%s] so that access tokens (not ID tokens) are accepted", route, got, promptqstack.AccessTokenScope)
		}
		integ, _ := p["Integration"].(map[string]any)
		if integ["Type"] != "AWS_PROXY" || !strings.Contains(s.str(integ["Uri"]), "${ApiFunction.Arn}") {
			t.Errorf("%s: integration %v %s, want AWS_PROXY to the api function", route, integ["Type"], s.str(integ["Uri"]))
		}
	}
	var want []string
	for _, r := range promptqstack.Routes {
		want = append(want, r.Method+" "+r.Path)
	}
	sort.Strings(routes)
	sort.Strings(want)
	if d := diff(routes, want); d != "" {
		t.Errorf("routes differ from the contract:%s", d)
	}
}

// apiPaths maps "${ResourceName}" and the root to their URL paths.
func (s *synthesized) apiPaths() map[string]string {
	res := s.resources("AWS::ApiGateway::Resource")
	paths := map[string]string{}
	var resolve func(ref string) string
	resolve = func(ref string) string {
		if p, ok := paths[ref]; ok {
			return p
		}
		if strings.HasSuffix(ref, ".RootResourceId}") {
			return ""
		}
		for id, r := range res {
			if "${"+s.name(id)+"}" == ref {
				p := resolve(s.str(r.props()["ParentId"])) + "/" + r.props()["PathPart"].(string)
				paths[ref] = p
				return p
			}
		}
		return "?" + ref
	}
	for id := range res {
		resolve("${" + s.name(id) + "}")
	}
	for k, v := range paths {
		paths[k] = v
	}
	// Methods on the root refer to the API's RootResourceId.
	for id := range s.resources("AWS::ApiGateway::RestApi") {
		paths["${"+s.name(id)+".RootResourceId}"] = "/"
	}
	return paths
}

func TestGatewayErrorsUseTheAPIErrorShapeAndCORS(t *testing.T) {
	s := defaultStack(t)
	want := map[string]struct{ status, code string }{
		"UNAUTHORIZED":                 {"401", "unauthorized"},
		"ACCESS_DENIED":                {"403", "unauthorized"},
		"MISSING_AUTHENTICATION_TOKEN": {"404", "not_found"},
		"THROTTLED":                    {"429", "rate_limited"},
		"REQUEST_TOO_LARGE":            {"413", "payload_too_large"},
		"DEFAULT_4XX":                  {"", "invalid_request"},
		"DEFAULT_5XX":                  {"", "internal"},
	}
	seen := map[string]bool{}
	for _, r := range s.resources("AWS::ApiGateway::GatewayResponse") {
		p := r.props()
		typ, _ := p["ResponseType"].(string)
		seen[typ] = true
		w, ok := want[typ]
		if !ok {
			t.Errorf("unexpected gateway response %s", typ)
			continue
		}
		if got, _ := p["StatusCode"].(string); got != w.status {
			t.Errorf("%s: status %q, want %q", typ, got, w.status)
		}
		tmpl, _ := p["ResponseTemplates"].(map[string]any)["application/json"].(string)
		var body struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if err := json.Unmarshal([]byte(tmpl), &body); err != nil {
			t.Errorf("%s: template is not JSON: %v: %s", typ, err, tmpl)
		}
		if body.Error.Code != w.code || body.Error.Message == "" {
			t.Errorf("%s: error %+v, want code %s and a message", typ, body.Error, w.code)
		}
		headers, _ := p["ResponseParameters"].(map[string]any)
		if got := s.str(headers["gatewayresponse.header.Access-Control-Allow-Origin"]); got != "'https://${Cdn.DomainName}'" {
			t.Errorf("%s: Access-Control-Allow-Origin %s, want the site's origin", typ, got)
		}
		www, has := headers["gatewayresponse.header.WWW-Authenticate"]
		if (typ == "UNAUTHORIZED") != has || (has && www != "'Bearer'") {
			t.Errorf("%s: WWW-Authenticate %v; want 'Bearer' on 401 only", typ, www)
		}
	}
	for typ := range want {
		if !seen[typ] {
			t.Errorf("no gateway response for %s", typ)
		}
	}
}

func TestCORSAllowsOnlyTheSiteOrigin(t *testing.T) {
	s := defaultStack(t)
	for _, m := range s.resources("AWS::ApiGateway::Method") {
		if m.props()["HttpMethod"] != "OPTIONS" {
			continue
		}
		integ := m.props()["Integration"].(map[string]any)
		for _, ir := range list(integ["IntegrationResponses"]) {
			params := ir.(map[string]any)["ResponseParameters"].(map[string]any)
			if got := s.str(params["method.response.header.Access-Control-Allow-Origin"]); got != "'https://${Cdn.DomainName}'" {
				t.Errorf("preflight allows origin %s, want only the site", got)
			}
		}
	}
	_, fn := s.byName(t, "ApiFunction")
	env := fn.props()["Environment"].(map[string]any)["Variables"].(map[string]any)
	if got := s.str(env["PROMPTQ_WEB_ORIGIN"]); got != "https://${Cdn.DomainName}" {
		t.Errorf("PROMPTQ_WEB_ORIGIN %s", got)
	}
}

func TestAPIStageIsThrottledTracedAndLogsJSON(t *testing.T) {
	s := defaultStack(t)
	_, stage := s.byName(t, "Api/DeploymentStage.v1")
	p := stage.props()
	if p["TracingEnabled"] != true {
		t.Error("stage tracing is off")
	}
	als, _ := p["AccessLogSetting"].(map[string]any)
	var fields map[string]string
	if err := json.Unmarshal([]byte(als["Format"].(string)), &fields); err != nil {
		t.Errorf("access log format is not JSON: %v", err)
	}
	for _, f := range []string{"requestId", "status", "user", "errorType"} {
		if fields[f] == "" {
			t.Errorf("access log lacks %s", f)
		}
	}
	for k, v := range fields {
		if strings.Contains(strings.ToLower(v), "authorization") || strings.Contains(v, "querystring") {
			t.Errorf("access log field %s logs %s", k, v)
		}
	}
	if !strings.Contains(s.str(als["DestinationArn"]), "${ApiAccessLogs}") {
		t.Errorf("access logs go to %s", s.str(als["DestinationArn"]))
	}
	check(t, "stage method settings", func() {
		s.template.HasResourceProperties(jsii.String("AWS::ApiGateway::Stage"), map[string]any{
			"MethodSettings": []any{map[string]any{
				"HttpMethod": "*", "ResourcePath": "/*",
				"LoggingLevel": "ERROR", "DataTraceEnabled": false,
				// Sized for 500 people polling a job and 20 batch users
				// (docs/reliability.md, "The API's edge").
				"ThrottlingRateLimit": 1000, "ThrottlingBurstLimit": 2000,
			}},
		})
	})
}

func TestLambdasRunGoOnGravitonWithJSONLogs(t *testing.T) {
	s := defaultStack(t)
	tests := []struct {
		name           string
		memory, timout float64
		env            []string
	}{
		{"ApiFunction", 512, 10, []string{
			"PROMPTQ_BULK_QUEUE_URL", "PROMPTQ_CLIENT_IDS", "PROMPTQ_COGNITO_ISSUER", "PROMPTQ_DEFAULT_MODEL",
			"PROMPTQ_ECONOMY_QUEUE_URL", "PROMPTQ_INTERACTIVE_QUEUE_URL", "PROMPTQ_MODELS", "PROMPTQ_REVOCATION_CHECK", "PROMPTQ_TABLE",
			"PROMPTQ_USER_POOL_ID", "PROMPTQ_WEB_ORIGIN",
		}},
		{"WorkerFunction", 128, 900, []string{
			"PROMPTQ_BULK_QUEUE_URL", "PROMPTQ_FAIR_SHARES", "PROMPTQ_INTERACTIVE_QUEUE_URL", "PROMPTQ_INTERACTIVE_SHARE",
			"PROMPTQ_MAX_RECEIVE_COUNT", "PROMPTQ_MODEL_CONCURRENCY", "PROMPTQ_MODEL_PROVIDER",
			"PROMPTQ_MODEL_TOKENS_PER_MINUTE", "PROMPTQ_TABLE",
		}},
		{"RescuerFunction", 256, 300, []string{
			"PROMPTQ_BULK_QUEUE_URL", "PROMPTQ_ECONOMY_QUEUE_URL", "PROMPTQ_INTERACTIVE_QUEUE_URL", "PROMPTQ_MAX_RECEIVE_COUNT",
			"PROMPTQ_RESCUE_AFTER", "PROMPTQ_TABLE",
		}},
		{"CollectorFunction", 512, 900, economyEnv},
		{"CompletionFunction", 512, 900, economyEnv},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, fn := s.byName(t, tt.name)
			p := fn.props()
			if p["Runtime"] != "provided.al2023" || p["Handler"] != "bootstrap" {
				t.Errorf("runtime %v handler %v, want provided.al2023 bootstrap", p["Runtime"], p["Handler"])
			}
			if got := list(p["Architectures"]); len(got) != 1 || got[0] != "arm64" {
				t.Errorf("architectures %v, want [arm64]", got)
			}
			if p["MemorySize"] != tt.memory || p["Timeout"] != tt.timout {
				t.Errorf("memory %v timeout %v, want %v %v", p["MemorySize"], p["Timeout"], tt.memory, tt.timout)
			}
			lc, _ := p["LoggingConfig"].(map[string]any)
			if lc["LogFormat"] != "JSON" || lc["ApplicationLogLevel"] != "INFO" || lc["SystemLogLevel"] != "WARN" {
				t.Errorf("logging config %v", lc)
			}
			if got := s.str(lc["LogGroup"]); got != "${"+tt.name+"Logs}" {
				t.Errorf("log group %s", got)
			}
			_, lg := s.byName(t, tt.name+"Logs")
			if lg.props()["RetentionInDays"] != 30.0 {
				t.Errorf("log retention %v days, want 30", lg.props()["RetentionInDays"])
			}
			env, _ := p["Environment"].(map[string]any)["Variables"].(map[string]any)
			var names []string
			for k := range env {
				names = append(names, k)
			}
			sort.Strings(names)
			if d := diff(names, tt.env); d != "" {
				t.Errorf("environment differs:%s", d)
			}
		})
	}

	_, api := s.byName(t, "ApiFunction")
	env := api.props()["Environment"].(map[string]any)["Variables"].(map[string]any)
	for k, want := range map[string]string{
		"PROMPTQ_TABLE":                 "${Jobs}",
		"PROMPTQ_INTERACTIVE_QUEUE_URL": "${JobsQueue}",
		"PROMPTQ_BULK_QUEUE_URL":        "${BulkQueue}",
		"PROMPTQ_USER_POOL_ID":          "${Users}",
		"PROMPTQ_CLIENT_IDS":            "${Users/Client}",
		"PROMPTQ_COGNITO_ISSUER":        "https://cognito-idp.${AWS::Region}.${AWS::URLSuffix}/${Users}",
		"PROMPTQ_MODELS":                strings.Join(catalogue.DefaultModels, ","),
		"PROMPTQ_DEFAULT_MODEL":         promptqstack.DefaultModel,
		"PROMPTQ_REVOCATION_CHECK":      "true",
	} {
		if got := s.str(env[k]); got != want {
			t.Errorf("api %s = %s, want %s", k, got, want)
		}
	}
	_, worker := s.byName(t, "WorkerFunction")
	env = worker.props()["Environment"].(map[string]any)["Variables"].(map[string]any)
	for k, want := range map[string]string{
		"PROMPTQ_TABLE":                   "${Jobs}",
		"PROMPTQ_INTERACTIVE_QUEUE_URL":   "${JobsQueue}",
		"PROMPTQ_BULK_QUEUE_URL":          "${BulkQueue}",
		"PROMPTQ_MAX_RECEIVE_COUNT":       "5",
		"PROMPTQ_MODEL_PROVIDER":          "bedrock",
		"PROMPTQ_MODEL_CONCURRENCY":       "10",
		"PROMPTQ_INTERACTIVE_SHARE":       "0.25",
		"PROMPTQ_MODEL_TOKENS_PER_MINUTE": "0",
		"PROMPTQ_FAIR_SHARES":             "true",
	} {
		if got := s.str(env[k]); got != want {
			t.Errorf("worker %s = %s, want %s", k, got, want)
		}
	}
	_, rescuer := s.byName(t, "RescuerFunction")
	env = rescuer.props()["Environment"].(map[string]any)["Variables"].(map[string]any)
	for k, want := range map[string]string{
		"PROMPTQ_TABLE":                 "${Jobs}",
		"PROMPTQ_INTERACTIVE_QUEUE_URL": "${JobsQueue}",
		"PROMPTQ_BULK_QUEUE_URL":        "${BulkQueue}",
		"PROMPTQ_MAX_RECEIVE_COUNT":     "5",
		"PROMPTQ_RESCUE_AFTER":          "105m",
	} {
		if got := s.str(env[k]); got != want {
			t.Errorf("rescuer %s = %s, want %s", k, got, want)
		}
	}
}

func TestRescuerRunsEveryFiveMinutesAfterTheVisibilityTimeoutWithoutRetries(t *testing.T) {
	s := defaultStack(t)
	_, rule := s.byName(t, "RescuerSchedule")
	p := rule.props()
	if p["ScheduleExpression"] != "rate(5 minutes)" || p["State"] != "ENABLED" {
		t.Errorf("schedule %v, state %v; want rate(5 minutes), enabled", p["ScheduleExpression"], p["State"])
	}
	targets := list(p["Targets"])
	if len(targets) != 1 {
		t.Fatalf("want one target, have %d", len(targets))
	}
	target := targets[0].(map[string]any)
	if got := s.str(target["Arn"]); got != "${RescuerFunction.Arn}" {
		t.Errorf("schedule targets %s, want the rescuer", got)
	}
	// The next run replaces a failed one: no retries, and no event kept
	// beyond the next run.
	rp, _ := target["RetryPolicy"].(map[string]any)
	if rp["MaximumRetryAttempts"] != 0.0 {
		t.Errorf("EventBridge retries %v, want 0", rp["MaximumRetryAttempts"])
	}
	if age, _ := rp["MaximumEventAgeInSeconds"].(float64); age < 60 || age > 300 {
		t.Errorf("EventBridge keeps an event %vs, want 1 to 5 minutes", rp["MaximumEventAgeInSeconds"])
	}
	check(t, "no Lambda async retries", func() {
		s.template.HasResourceProperties(jsii.String("AWS::Lambda::EventInvokeConfig"), map[string]any{
			"FunctionName":             map[string]any{"Ref": s.id(t, "RescuerFunction")},
			"Qualifier":                "$LATEST",
			"MaximumRetryAttempts":     0,
			"MaximumEventAgeInSeconds": 300,
		})
	})
	check(t, "EventBridge may invoke the rescuer, from this rule only", func() {
		s.template.HasResourceProperties(jsii.String("AWS::Lambda::Permission"), map[string]any{
			"Action":       "lambda:InvokeFunction",
			"FunctionName": map[string]any{"Fn::GetAtt": []any{s.id(t, "RescuerFunction"), "Arn"}},
			"Principal":    "events.amazonaws.com",
			"SourceArn":    map[string]any{"Fn::GetAtt": []any{s.id(t, "RescuerSchedule"), "Arn"}},
		})
	})

	// A job counts as stale only after longer than its message can stay
	// hidden: the queue's visibility timeout, plus the worker's backoff.
	_, fn := s.byName(t, "RescuerFunction")
	env := fn.props()["Environment"].(map[string]any)["Variables"].(map[string]any)
	after, err := time.ParseDuration(s.str(env["PROMPTQ_RESCUE_AFTER"]))
	if err != nil {
		t.Fatalf("PROMPTQ_RESCUE_AFTER: %v", err)
	}
	_, q := s.byName(t, "JobsQueue")
	vis, _ := q.props()["VisibilityTimeout"].(float64)
	if vis == 0 || after <= time.Duration(vis)*time.Second {
		t.Errorf("PROMPTQ_RESCUE_AFTER %v is not longer than the queue's visibility timeout %vs", after, vis)
	}
	if backoffMax := 15 * time.Minute; after < time.Duration(vis)*time.Second+backoffMax {
		t.Errorf("PROMPTQ_RESCUE_AFTER %v does not cover the visibility timeout %vs plus the worker's %v longest backoff", after, vis, backoffMax)
	}
}

func TestEachLanesQueueHasTheDeadLetterQueueAndOutlastsTheWorker(t *testing.T) {
	s := defaultStack(t)
	_, dlq := s.byName(t, "JobsDLQ")
	_, worker := s.byName(t, "WorkerFunction")
	for _, name := range []string{"JobsQueue", "BulkQueue"} { // the interactive lane keeps the old queue
		_, q := s.byName(t, name)
		p := q.props()
		rp, _ := p["RedrivePolicy"].(map[string]any)
		if got := s.str(rp["deadLetterTargetArn"]); got != "${JobsDLQ.Arn}" {
			t.Errorf("%s: dead letters go to %s, want JobsDLQ", name, got)
		}
		if rp["maxReceiveCount"] != 5.0 {
			t.Errorf("%s: maxReceiveCount %v, want 5", name, rp["maxReceiveCount"])
		}
		vis, _ := p["VisibilityTimeout"].(float64)
		timeout, _ := worker.props()["Timeout"].(float64)
		if vis < 6*timeout {
			t.Errorf("%s: visibility timeout %vs is less than 6 × the worker's %vs", name, vis, timeout)
		}
		if p["SqsManagedSseEnabled"] != true {
			t.Errorf("%s is not encrypted", name)
		}
	}
	if dlq.props()["SqsManagedSseEnabled"] != true {
		t.Errorf("JobsDLQ is not encrypted")
	}
	if dlq.props()["MessageRetentionPeriod"] != 1209600.0 {
		t.Errorf("DLQ keeps messages %vs, want 14 days", dlq.props()["MessageRetentionPeriod"])
	}
	check(t, "every queue refuses plain HTTP", func() {
		s.template.ResourcePropertiesCountIs(jsii.String("AWS::SQS::QueuePolicy"), map[string]any{
			"PolicyDocument": map[string]any{"Statement": assertions.Match_ArrayWith(&[]any{assertions.Match_ObjectLike(&map[string]any{
				"Effect":    "Deny",
				"Condition": map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}},
			})})},
		}, jsii.Number(5))
	})
}

// Each lane's mapping runs one job an invocation and reports only the
// messages to retry. The interactive lane's runs at most its share of the
// model's concurrency; the bulk lane's the whole of it, so that it can
// borrow the seats the interactive lane is not using (the worker's seats
// of the model bound the generations at once, and take a lent one back).
func TestEachLanesEventSourceIsSizedFromTheQuota(t *testing.T) {
	for _, tc := range []struct {
		name              string
		s                 func(*testing.T) *synthesized
		interactive, bulk float64
	}{
		{"default: 10 at once, a quarter interactive", defaultStack, 3, 10},
		{"configured: 40 at once, a tenth interactive", variantStack, 4, 40},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.s(t)
			for queue, concurrency := range map[string]float64{"JobsQueue": tc.interactive, "BulkQueue": tc.bulk} {
				check(t, queue+"'s event source mapping", func() {
					s.template.HasResourceProperties(jsii.String("AWS::Lambda::EventSourceMapping"), map[string]any{
						"EventSourceArn":                 map[string]any{"Fn::GetAtt": []any{s.id(t, queue), "Arn"}},
						"FunctionName":                   map[string]any{"Ref": s.id(t, "WorkerFunction")},
						"BatchSize":                      1,
						"MaximumBatchingWindowInSeconds": 0,
						"FunctionResponseTypes":          []any{"ReportBatchItemFailures"},
						"ScalingConfig":                  map[string]any{"MaximumConcurrency": concurrency},
					})
				})
			}
			_, worker := s.byName(t, "WorkerFunction")
			env := worker.props()["Environment"].(map[string]any)["Variables"].(map[string]any)
			if got := s.str(env["PROMPTQ_MODEL_CONCURRENCY"]); got != fmt.Sprint(tc.bulk) {
				t.Errorf("the worker's PROMPTQ_MODEL_CONCURRENCY is %s, the bulk lane's mapping %v: they must agree on the model's seats", got, tc.bulk)
			}
		})
	}
}

func TestTheLanesHaveAlarmsForWaitingJobs(t *testing.T) {
	for _, tc := range []struct {
		name       string
		s          func(*testing.T) *synthesized
		bulkSecond float64
	}{
		{"default", defaultStack, 6 * 3600},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.s(t)
			for queue, threshold := range map[string]float64{"JobsQueue": 60, "BulkQueue": tc.bulkSecond} {
				check(t, queue+" wait alarm", func() {
					s.template.HasResourceProperties(jsii.String("AWS::CloudWatch::Alarm"), map[string]any{
						"MetricName":        "ApproximateAgeOfOldestMessage",
						"Namespace":         "AWS/SQS",
						"Dimensions":        []any{map[string]any{"Name": "QueueName", "Value": map[string]any{"Fn::GetAtt": []any{s.id(t, queue), "QueueName"}}}},
						"Threshold":         threshold,
						"EvaluationPeriods": 5,
						"AlarmActions":      assertions.Match_AnyValue(),
						"OKActions":         assertions.Match_AnyValue(),
					})
				})
			}
		})
	}
}

func (s *synthesized) id(t *testing.T, name string) string {
	t.Helper()
	id, _ := s.byName(t, name)
	return id
}

func TestJobsTableIsOnDemandWithTTLAndPointInTimeRecovery(t *testing.T) {
	for _, tc := range []struct {
		name    string
		s       func(*testing.T) *synthesized
		protect bool
		policy  string
	}{
		{"default: make destroy removes it", defaultStack, false, "Delete"},
		{"deletion protection: kept", variantStack, true, "Retain"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.s(t)
			check(t, "table", func() {
				s.template.HasResource(jsii.String("AWS::DynamoDB::Table"), map[string]any{
					"DeletionPolicy": tc.policy,
					"Properties": map[string]any{
						"BillingMode": "PAY_PER_REQUEST",
						"KeySchema": []any{
							map[string]any{"AttributeName": "pk", "KeyType": "HASH"},
							map[string]any{"AttributeName": "sk", "KeyType": "RANGE"},
						},
						"AttributeDefinitions": assertions.Match_ArrayEquals(&[]any{
							map[string]any{"AttributeName": "pk", "AttributeType": "S"},
							map[string]any{"AttributeName": "sk", "AttributeType": "S"},
							map[string]any{"AttributeName": promptqstack.ActiveOwnerAttribute, "AttributeType": "S"},
						}),
						"GlobalSecondaryIndexes": []any{map[string]any{
							"IndexName": promptqstack.ActiveIndex,
							"KeySchema": []any{
								map[string]any{"AttributeName": promptqstack.ActiveOwnerAttribute, "KeyType": "HASH"},
								map[string]any{"AttributeName": "sk", "KeyType": "RANGE"},
							},
							// What the rescuer's scan needs, and no more: a
							// job's state, and its lane for its queue.
							"Projection": map[string]any{
								"ProjectionType":   "INCLUDE",
								"NonKeyAttributes": []any{"status", "updated_at", "lease_until", "attempts", "lane"},
							},
						}},
						"TimeToLiveSpecification":          map[string]any{"AttributeName": promptqstack.TTLAttribute, "Enabled": true},
						"PointInTimeRecoverySpecification": map[string]any{"PointInTimeRecoveryEnabled": true},
						"DeletionProtectionEnabled":        tc.protect,
					},
				})
			})
			check(t, "user pool", func() {
				props := map[string]any{}
				if tc.protect {
					props["DeletionProtection"] = "ACTIVE"
				}
				s.template.HasResource(jsii.String("AWS::Cognito::UserPool"), map[string]any{
					"DeletionPolicy": tc.policy, "Properties": props,
				})
			})
		})
	}
}

func TestUserPoolAndClient(t *testing.T) {
	s := defaultStack(t)
	check(t, "user pool", func() {
		s.template.HasResourceProperties(jsii.String("AWS::Cognito::UserPool"), map[string]any{
			"UsernameAttributes":     []any{"email"},
			"AutoVerifiedAttributes": []any{"email"},
			"AdminCreateUserConfig":  map[string]any{"AllowAdminCreateUserOnly": false},
			"AccountRecoverySetting": map[string]any{"RecoveryMechanisms": []any{map[string]any{"Name": "verified_email", "Priority": 1}}},
			"MfaConfiguration":       "OPTIONAL",
			"EnabledMfas":            []any{"SOFTWARE_TOKEN_MFA"},
			"UserPoolTier":           "ESSENTIALS",
			"UsernameConfiguration":  map[string]any{"CaseSensitive": false},
			"VerificationMessageTemplate": assertions.Match_ObjectLike(&map[string]any{
				"DefaultEmailOption": "CONFIRM_WITH_CODE",
			}),
			"Policies": map[string]any{"PasswordPolicy": assertions.Match_ObjectLike(&map[string]any{
				"MinimumLength": 12, "RequireLowercase": true, "RequireUppercase": true,
				"RequireNumbers": true, "RequireSymbols": true,
			})},
			// An email change waits for a code from the new address (the
			// README's account of what a change allows rests on it).
			"UserAttributeUpdateSettings": map[string]any{"AttributesRequireVerificationBeforeUpdate": []any{"email"}},
		})
	})
	check(t, "app client", func() {
		s.template.HasResourceProperties(jsii.String("AWS::Cognito::UserPoolClient"), map[string]any{
			"GenerateSecret": false,
			// The flows the web app and the batch tool use, and no other.
			"ExplicitAuthFlows": assertions.Match_ArrayEquals(&[]any{
				"ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH",
			}),
			"PreventUserExistenceErrors": "ENABLED",
			"EnableTokenRevocation":      true,
			// A revoked access token reads and cancels jobs until it
			// expires: at most 5 minutes (docs/reliability.md).
			"AccessTokenValidity":  5,
			"IdTokenValidity":      5,
			"RefreshTokenValidity": 43200,
			"TokenValidityUnits": map[string]any{
				"AccessToken": "minutes", "IdToken": "minutes", "RefreshToken": "minutes",
			},
		})
	})
}

func TestSiteIsAPrivateBucketBehindCloudFrontWithOAC(t *testing.T) {
	s := defaultStack(t)
	for _, name := range []string{"Site", "AccessLogs"} {
		_, b := s.byName(t, name)
		p := b.props()
		pab, _ := p["PublicAccessBlockConfiguration"].(map[string]any)
		for _, k := range []string{"BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"} {
			if pab[k] != true {
				t.Errorf("%s: %s is %v", name, k, pab[k])
			}
		}
		if _, ok := p["WebsiteConfiguration"]; ok {
			t.Errorf("%s is a website bucket", name)
		}
		if p["BucketEncryption"] == nil {
			t.Errorf("%s is not encrypted", name)
		}
	}
	_, site := s.byName(t, "Site")
	if lc, _ := site.props()["LoggingConfiguration"].(map[string]any); s.str(lc["DestinationBucketName"]) != "${AccessLogs}" {
		t.Errorf("site bucket access logs go to %v", lc)
	}

	check(t, "origin access control", func() {
		s.template.HasResourceProperties(jsii.String("AWS::CloudFront::OriginAccessControl"), map[string]any{
			"OriginAccessControlConfig": map[string]any{
				"OriginAccessControlOriginType": "s3", "SigningBehavior": "always", "SigningProtocol": "sigv4",
			},
		})
	})
	_, cdn := s.byName(t, "Cdn")
	dc := cdn.props()["DistributionConfig"].(map[string]any)
	origins := list(dc["Origins"])
	if len(origins) != 1 {
		t.Fatalf("want one origin, have %d", len(origins))
	}
	o := origins[0].(map[string]any)
	if got := s.str(o["DomainName"]); got != "${Site.RegionalDomainName}" {
		t.Errorf("origin %s, want the site bucket's REST endpoint", got)
	}
	if !strings.Contains(s.str(o["OriginAccessControlId"]), "S3OriginAccessControl") {
		t.Errorf("origin has no OAC: %v", o)
	}
	if _, ok := o["CustomOriginConfig"]; ok {
		t.Error("origin is a custom (website) origin")
	}
	beh := dc["DefaultCacheBehavior"].(map[string]any)
	if beh["ViewerProtocolPolicy"] != "redirect-to-https" {
		t.Errorf("viewer protocol policy %v", beh["ViewerProtocolPolicy"])
	}
	if dc["DefaultRootObject"] != "index.html" {
		t.Errorf("default root object %v", dc["DefaultRootObject"])
	}
	if lg, _ := dc["Logging"].(map[string]any); s.str(lg["Bucket"]) != "${AccessLogs.RegionalDomainName}" {
		t.Errorf("CloudFront logs go to %v", lg)
	}

	// Only CloudFront, for this distribution, reads the site bucket.
	check(t, "site bucket policy", func() {
		s.template.HasResourceProperties(jsii.String("AWS::S3::BucketPolicy"), map[string]any{
			"Bucket": map[string]any{"Ref": s.id(t, "Site")},
			"PolicyDocument": map[string]any{"Statement": assertions.Match_ArrayWith(&[]any{assertions.Match_ObjectLike(&map[string]any{
				"Action":    "s3:GetObject",
				"Effect":    "Allow",
				"Principal": map[string]any{"Service": "cloudfront.amazonaws.com"},
				"Condition": map[string]any{"StringEquals": map[string]any{"AWS:SourceArn": assertions.Match_AnyValue()}},
			})})},
		})
	})
	for _, p := range s.resources("AWS::S3::BucketPolicy") {
		doc := p.props()["PolicyDocument"].(map[string]any)
		for _, st := range list(doc["Statement"]) {
			m := st.(map[string]any)
			if m["Effect"] == "Allow" && (m["Principal"] == "*" || s.str(m["Principal"]) == `{"AWS":"*"}`) {
				t.Errorf("bucket policy of %s allows everyone: %v", s.str(p.props()["Bucket"]), m)
			}
		}
	}
}

func TestSiteConfigCarriesTheAPIAndCognitoIDs(t *testing.T) {
	s := defaultStack(t)
	resolved, index := s.siteFiles(t)
	want := map[string]string{
		"region":           "${AWS::Region}",
		"user_pool_id":     "${Users}",
		"client_id":        "${Users/Client}",
		"api_url":          "https://${Api}.execute-api.${AWS::Region}.${AWS::URLSuffix}/${Api/DeploymentStage.v1}",
		"cognito_endpoint": "https://cognito-idp.${AWS::Region}.${AWS::URLSuffix}/",
		"models":           mustJSON(t, catalogue.Entries(catalogue.DefaultModels)),
		"default_model":    `"` + promptqstack.DefaultModel + `"`,
		"password_policy":  `{"min_length":12,"require_digits":true,"require_lowercase":true,"require_symbols":true,"require_uppercase":true}`,
		"sign_up":          `"open"`,
	}
	for k, w := range want {
		if resolved[k] != w {
			t.Errorf("config.json %s = %s, want %s", k, resolved[k], w)
		}
	}
	if len(resolved) != len(want) {
		t.Errorf("config.json has keys %v, want exactly %v", resolved, want)
	}
	if !strings.Contains(string(index), "<title>promptq</title>") {
		t.Errorf("web/index.html not deployed: %s", index)
	}
}

// siteFiles reads the site deployment's config.json (each key's value as
// JSON, tokens rendered as s.str does) and index.html.
func (s *synthesized) siteFiles(t *testing.T) (config map[string]string, index []byte) {
	t.Helper()
	var dep resource
	for _, r := range s.resources("Custom::CDKBucketDeployment") {
		dep = r
	}
	p := dep.props()
	if s.str(p["DestinationBucketName"]) != "${Site}" || s.str(p["DistributionId"]) != "${Cdn}" {
		t.Errorf("deployment goes to %s, invalidates %s", s.str(p["DestinationBucketName"]), s.str(p["DistributionId"]))
	}
	keys := list(p["SourceObjectKeys"])
	markers := list(p["SourceMarkers"])
	if len(keys) != 2 || len(markers) != 2 {
		t.Fatalf("want two sources (web/, config.json), have %d", len(keys))
	}

	// The JSON source is a zip in the assembly with markers for the tokens.
	raw := readZipFile(t, filepath.Join(s.outDir, "asset."+strings.TrimSuffix(keys[1].(string), ".zip")), promptqstack.ConfigObject)
	// Markers stand where the JSON strings will be; quote them to parse.
	raw = regexp.MustCompile(`<<marker:0xbaba:\d+>>`).ReplaceAll(raw, []byte(`"$0"`))
	var fields map[string]any
	if err := json.Unmarshal(raw, &fields); err != nil {
		t.Fatalf("config.json: %v: %s", err, raw)
	}
	config = map[string]string{}
	for k, v := range fields {
		if m, ok := markers[1].(map[string]any)[fmt.Sprint(v)]; ok {
			config[k] = strings.Trim(s.str(m), `"`)
		} else {
			b, _ := json.Marshal(v)
			config[k] = string(b)
		}
	}
	index = readZipFile(t, filepath.Join(s.outDir, "asset."+strings.TrimSuffix(keys[0].(string), ".zip")), "index.html")
	return config, index
}

func TestWithoutWebFolderAPlaceholderPageIsDeployed(t *testing.T) {
	s := variantStack(t)
	var dep resource
	for _, r := range s.resources("Custom::CDKBucketDeployment") {
		dep = r
	}
	keys := list(dep.props()["SourceObjectKeys"])
	index := readZipFile(t, filepath.Join(s.outDir, "asset."+strings.TrimSuffix(keys[0].(string), ".zip")), "index.html")
	if !strings.Contains(string(index), "web app (web/) was not built") {
		t.Errorf("placeholder page missing: %s", index)
	}
}

// readZipFile reads name from a zip asset (CDK stages zips as asset.<hash>
// folders or .zip files, depending on the source).
func readZipFile(t *testing.T, asset, name string) []byte {
	t.Helper()
	if fi, err := os.Stat(asset); err == nil && fi.IsDir() {
		b, err := os.ReadFile(filepath.Join(asset, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	zr, err := zip.OpenReader(asset + ".zip")
	if err != nil {
		t.Fatalf("open asset: %v", err)
	}
	defer zr.Close()
	for _, f := range zr.File {
		if f.Name == name {
			rc, err := f.Open()
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			b, err := io.ReadAll(rc)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
	t.Fatalf("%s has no %s", asset, name)
	return nil
}

func TestAlarmsNotifyTheTopicAndEmailIsOptional(t *testing.T) {
	s := defaultStack(t)
	for _, name := range []string{"DeadLetterQueueNotEmpty", "WorkerErrors", "Api5xx", "RescuerErrors", "JobsRescued",
		"InteractiveJobsWaiting", "BulkBacklogNotKeepingUp"} {
		_, a := s.byName(t, name)
		p := a.props()
		if got := s.str(list(p["AlarmActions"])[0]); got != "${Alarms}" {
			t.Errorf("%s notifies %s, want the Alarms topic", name, got)
		}
		if strings.HasSuffix(name, "Waiting") || strings.HasSuffix(name, "KeepingUp") {
			continue // thresholds in seconds: TestTheLanesHaveAlarmsForWaitingJobs
		}
		if p["Threshold"] != 1.0 || p["ComparisonOperator"] != "GreaterThanOrEqualToThreshold" || p["TreatMissingData"] != "notBreaching" {
			t.Errorf("%s: threshold %v %v, missing data %v", name, p["ComparisonOperator"], p["Threshold"], p["TreatMissingData"])
		}
	}
	_, dlqAlarm := s.byName(t, "DeadLetterQueueNotEmpty")
	if dlqAlarm.props()["MetricName"] != "ApproximateNumberOfMessagesVisible" {
		t.Errorf("DLQ alarm watches %v", dlqAlarm.props()["MetricName"])
	}
	if got := s.str(list(dlqAlarm.props()["Dimensions"])[0].(map[string]any)["Value"]); got != "${JobsDLQ.QueueName}" {
		t.Errorf("DLQ alarm watches queue %s", got)
	}
	for alarm, fn := range map[string]string{"WorkerErrors": "WorkerFunction", "RescuerErrors": "RescuerFunction"} {
		_, a := s.byName(t, alarm)
		p := a.props()
		dims := list(p["Dimensions"])
		if p["Namespace"] != "AWS/Lambda" || p["MetricName"] != "Errors" || p["Statistic"] != "Sum" ||
			len(dims) != 1 || s.str(dims[0].(map[string]any)["Value"]) != "${"+fn+"}" {
			t.Errorf("%s watches %v %v %v of %s, want AWS/Lambda Errors Sum of %s", alarm,
				p["Namespace"], p["MetricName"], p["Statistic"], s.str(dims), fn)
		}
	}

	// Jobs rescued: counted from the rescuer's "rescue run finished" line.
	_, filter := s.byName(t, "JobsRescuedFilter")
	fp := filter.props()
	if got := s.str(fp["LogGroupName"]); got != "${RescuerFunctionLogs}" {
		t.Errorf("jobs rescued filter reads %s, want the rescuer's log group", got)
	}
	if got := strings.Join(strings.Fields(fmt.Sprint(fp["FilterPattern"])), ""); got != "{$.rescued>0}" {
		t.Errorf("filter pattern %v, want { $.rescued > 0 }", fp["FilterPattern"])
	}
	mts := list(fp["MetricTransformations"])
	if len(mts) != 1 {
		t.Fatalf("want one metric transformation, have %v", mts)
	}
	mt := mts[0].(map[string]any)
	if mt["MetricNamespace"] != "promptq" || mt["MetricName"] != "JobsRescued" || mt["MetricValue"] != "$.rescued" {
		t.Errorf("metric transformation %v, want promptq/JobsRescued = $.rescued", mt)
	}
	if _, ok := mt["DefaultValue"]; ok {
		t.Errorf("metric transformation has a default value %v: runs that rescue nothing would publish zeros", mt["DefaultValue"])
	}
	_, rescued := s.byName(t, "JobsRescued")
	rp := rescued.props()
	if rp["Namespace"] != "promptq" || rp["MetricName"] != "JobsRescued" || rp["Statistic"] != "Sum" || rp["Period"] != 300.0 {
		t.Errorf("JobsRescued alarm watches %v/%v %v over %vs, want promptq/JobsRescued Sum over 300s",
			rp["Namespace"], rp["MetricName"], rp["Statistic"], rp["Period"])
	}
	if d, _ := rp["AlarmDescription"].(string); !strings.Contains(d, "docs/reliability.md") || !strings.Contains(d, "purged") {
		t.Errorf("JobsRescued alarm description does not tell the on-call what happened: %q", d)
	}

	v := variantStack(t)
	check(t, "email subscription when alarmEmail is set", func() {
		v.template.HasResourceProperties(jsii.String("AWS::SNS::Subscription"), map[string]any{
			"Protocol": "email", "Endpoint": "ops@example.com",
			"TopicArn": map[string]any{"Ref": v.id(t, "Alarms")},
		})
	})
}

func TestConfiguredOptionsReachTheTemplate(t *testing.T) {
	s := variantStack(t)
	check(t, "no API Gateway account role when apiGatewayLogRole is false", func() {
		s.template.ResourceCountIs(jsii.String("AWS::ApiGateway::Account"), jsii.Number(0))
	})
	check(t, "maxReceiveCount", func() {
		s.template.HasResourceProperties(jsii.String("AWS::SQS::Queue"), map[string]any{
			"RedrivePolicy": map[string]any{"maxReceiveCount": 3, "deadLetterTargetArn": assertions.Match_AnyValue()},
		})
	})
	_, api := s.byName(t, "ApiFunction")
	env := api.props()["Environment"].(map[string]any)["Variables"].(map[string]any)
	if got := env["PROMPTQ_MODELS"]; got != strings.Join(variantModels, ",") {
		t.Errorf("PROMPTQ_MODELS = %v", got)
	}
	if got := env["PROMPTQ_DEFAULT_MODEL"]; got != variantModels[2] {
		t.Errorf("PROMPTQ_DEFAULT_MODEL = %v", got)
	}
	_, worker := s.byName(t, "WorkerFunction")
	env = worker.props()["Environment"].(map[string]any)["Variables"].(map[string]any)
	if env["PROMPTQ_MAX_RECEIVE_COUNT"] != "3" || env["PROMPTQ_MODEL_CONCURRENCY"] != "40" || env["PROMPTQ_INTERACTIVE_SHARE"] != "0.1" ||
		env["PROMPTQ_MODEL_TOKENS_PER_MINUTE"] != "400000" || env["PROMPTQ_FAIR_SHARES"] != "false" {
		t.Errorf("worker env %v, want the configured receives, quota and fair shares", env)
	}
	_, rescuer := s.byName(t, "RescuerFunction")
	env = rescuer.props()["Environment"].(map[string]any)["Variables"].(map[string]any)
	if env["PROMPTQ_MAX_RECEIVE_COUNT"] != "3" {
		t.Errorf("rescuer env %v, want the configured maxReceiveCount", env)
	}
	_, logs := s.byName(t, "AccessLogs")
	if logs["DeletionPolicy"] != "Retain" {
		t.Errorf("access-log bucket deletion policy %v with deletion protection on", logs["DeletionPolicy"])
	}
}

func TestOutputsNameEverythingADeployPrints(t *testing.T) {
	s := defaultStack(t)
	outputs, _ := s.tpl["Outputs"].(map[string]any)
	for _, name := range []string{
		"SiteUrl", "ApiUrl", "Region", "UserPoolId", "UserPoolClientId", "CognitoEndpoint",
		"InteractiveQueueUrl", "BulkQueueUrl", "DeadLetterQueueUrl", "TableName", "AlarmTopicArn",
		"EventBusName", "EventBusArn", "DashboardName",
	} {
		if _, ok := outputs[name]; !ok {
			t.Errorf("no output %s", name)
		}
	}
}

func TestWAFRateLimitPutsAPerClientRuleOnTheStage(t *testing.T) {
	s := variantStack(t)
	check(t, "one web ACL and its association", func() {
		s.template.ResourceCountIs(jsii.String("AWS::WAFv2::WebACL"), jsii.Number(1))
		s.template.ResourceCountIs(jsii.String("AWS::WAFv2::WebACLAssociation"), jsii.Number(1))
	})
	_, acl := s.byName(t, "ApiWebAcl")
	p := acl.props()
	if p["Scope"] != "REGIONAL" || s.str(p["DefaultAction"]) != `{"Allow":{}}` {
		t.Errorf("web ACL scope %v, default action %s", p["Scope"], s.str(p["DefaultAction"]))
	}
	rules := list(p["Rules"])
	if len(rules) != 1 {
		t.Fatalf("%d rules, want one (each costs $1 a month)", len(rules))
	}
	rule := rules[0].(map[string]any)
	rate := rule["Statement"].(map[string]any)["RateBasedStatement"].(map[string]any)
	if rate["Limit"] != 1200.0 || rate["EvaluationWindowSec"] != 60.0 || rate["AggregateKeyType"] != "CUSTOM_KEYS" {
		t.Errorf("rate-based statement %v", rate)
	}
	keys := list(rate["CustomKeys"])
	if len(keys) != 1 {
		t.Fatalf("rate keys %s, want the Authorization header alone", s.str(rate["CustomKeys"]))
	}
	header := keys[0].(map[string]any)["Header"].(map[string]any)
	if header["Name"] != "authorization" {
		t.Errorf("rate key on header %v, want authorization", header["Name"])
	}
	// Every spelling of one token that reaches the function is one key (the
	// API takes the scheme in any case; it refuses other whitespace, but
	// only once the function runs), and two tokens are two keys.
	const token = "eyJraWQiOiJ.eyJzdWIiOiI.c2lnbmF0dXJl"
	key := func(v string) string { return wafTransform(t, list(header["TextTransformations"]), v) }
	want := key("Bearer " + token)
	for _, v := range []string{"bearer " + token, "BEARER " + token, "bEaReR " + token, "Bearer  " + token, "Bearer\t" + token} {
		if got := key(v); got != want {
			t.Errorf("%q counts as %q, %q as %q: one token, two keys", v, got, "Bearer "+token, want)
		}
	}
	if key("Bearer "+token) == key("Bearer "+token+"x") {
		t.Error("two tokens count as one key")
	}
	resp := rule["Action"].(map[string]any)["Block"].(map[string]any)["CustomResponse"].(map[string]any)
	headers := map[string]string{}
	for _, h := range list(resp["ResponseHeaders"]) {
		m := h.(map[string]any)
		headers[m["Name"].(string)] = s.str(m["Value"])
	}
	if resp["ResponseCode"] != 429.0 || headers["Retry-After"] != "60" || headers["Access-Control-Allow-Origin"] != "https://${Cdn.DomainName}" {
		t.Errorf("over the rate: %v, headers %v; want 429 with Retry-After and the site's CORS origin", resp["ResponseCode"], headers)
	}
	body := p["CustomResponseBodies"].(map[string]any)[resp["CustomResponseBodyKey"].(string)].(map[string]any)
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if err := json.Unmarshal([]byte(body["Content"].(string)), &e); err != nil || e.Error.Code != "rate_limited" || body["ContentType"] != "APPLICATION_JSON" {
		t.Errorf("429 body %v (%v): want the API's error shape", body, err)
	}
	for _, vc := range []any{p["VisibilityConfig"], rule["VisibilityConfig"]} {
		if vc.(map[string]any)["SampledRequestsEnabled"] != false {
			t.Errorf("sampled requests are kept (they hold access tokens): %v", vc)
		}
	}
	_, assoc := s.byName(t, "ApiWebAclAssociation")
	if got := s.str(assoc.props()["ResourceArn"]); !strings.Contains(got, "/restapis/${Api}/stages/${Api/DeploymentStage.v1}") {
		t.Errorf("web ACL associated with %s, want the API stage", got)
	}
	if got := s.str(assoc.props()["WebACLArn"]); got != "${ApiWebAcl.Arn}" {
		t.Errorf("association names web ACL %s", got)
	}
}

// wafTransform applies WAF text transformations (as a template lists them,
// in priority order) to v, for the types this stack uses; AWS WAF's
// developer guide defines them.
func wafTransform(t *testing.T, transformations []any, v string) string {
	t.Helper()
	ts := make([]map[string]any, len(transformations))
	for i, tt := range transformations {
		ts[i] = tt.(map[string]any)
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i]["Priority"].(float64) < ts[j]["Priority"].(float64) })
	for _, tt := range ts {
		switch tt["Type"] {
		case "NONE":
		case "LOWERCASE":
			v = strings.ToLower(v)
		case "COMPRESS_WHITE_SPACE":
			// \f \t \n \r \v and no-break space become spaces, then each
			// run of spaces one space.
			var b strings.Builder
			for _, r := range v {
				if strings.ContainsRune("\f\t\n\r\v\u00a0", r) {
					r = ' '
				}
				if r != ' ' || !strings.HasSuffix(b.String(), " ") {
					b.WriteRune(r)
				}
			}
			v = b.String()
		default:
			t.Fatalf("text transformation %v: teach wafTransform what it does", tt["Type"])
		}
	}
	return v
}

func TestSignUpModes(t *testing.T) {
	t.Run("open: anyone signs up, no trigger", func(t *testing.T) {
		s := defaultStack(t)
		_, pool := s.byName(t, "Users")
		if cfg, _ := pool.props()["AdminCreateUserConfig"].(map[string]any); cfg["AllowAdminCreateUserOnly"] != false {
			t.Errorf("AdminCreateUserConfig %v, want self sign-up allowed", cfg)
		}
		if lc, ok := pool.props()["LambdaConfig"]; ok {
			t.Errorf("the pool has triggers %v, want none", lc)
		}
	})

	t.Run("domains: the pre-sign-up trigger, with only its logs", func(t *testing.T) {
		s := variantStack(t)
		_, pool := s.byName(t, "Users")
		if cfg, _ := pool.props()["AdminCreateUserConfig"].(map[string]any); cfg["AllowAdminCreateUserOnly"] != false {
			t.Errorf("AdminCreateUserConfig %v, want self sign-up allowed (the trigger decides)", cfg)
		}
		lc, _ := pool.props()["LambdaConfig"].(map[string]any)
		if got := s.str(lc["PreSignUp"]); got != "${PresignupFunction.Arn}" || len(lc) != 1 {
			t.Errorf("pool triggers %v, want PreSignUp only, the presignup function", lc)
		}
		_, fn := s.byName(t, "PresignupFunction")
		p := fn.props()
		env := p["Environment"].(map[string]any)["Variables"].(map[string]any)
		if env["PROMPTQ_SIGN_UP"] != "domains" || env["PROMPTQ_SIGN_UP_DOMAINS"] != "example.com,example.org" || len(env) != 2 {
			t.Errorf("presignup env %v", env)
		}
		if p["Timeout"] != 5.0 || p["MemorySize"] != 128.0 || p["Runtime"] != "provided.al2023" {
			t.Errorf("presignup timeout %v, memory %v, runtime %v", p["Timeout"], p["MemorySize"], p["Runtime"])
		}
		role, _ := p["Role"].(map[string]any)["Fn::GetAtt"].([]any)
		grants, managed := s.roleGrants(role[0].(string))
		want := expand("Allow", []string{"logs:CreateLogStream", "logs:PutLogEvents"}, "${PresignupFunctionLogs.Arn}")
		sort.Strings(want)
		if d := diff(grants, want); d != "" || len(managed) > 0 {
			t.Errorf("presignup role: %s; managed %v", d, managed)
		}
		check(t, "Cognito may invoke the trigger, for this pool only", func() {
			s.template.HasResourceProperties(jsii.String("AWS::Lambda::Permission"), map[string]any{
				"Action":       "lambda:InvokeFunction",
				"Principal":    "cognito-idp.amazonaws.com",
				"FunctionName": map[string]any{"Fn::GetAtt": []any{s.id(t, "PresignupFunction"), "Arn"}},
				"SourceArn":    map[string]any{"Fn::GetAtt": []any{s.id(t, "Users"), "Arn"}},
			})
		})
		config, _ := s.siteFiles(t)
		if config["sign_up"] != `"domains"` || config["sign_up_domains"] != `["example.com","example.org"]` {
			t.Errorf("config.json sign_up %s, sign_up_domains %s", config["sign_up"], config["sign_up_domains"])
		}
	})

	t.Run("invite: administrators create users", func(t *testing.T) {
		s := inviteStack(t)
		_, pool := s.byName(t, "Users")
		cfg, _ := pool.props()["AdminCreateUserConfig"].(map[string]any)
		if cfg["AllowAdminCreateUserOnly"] != true {
			t.Errorf("AdminCreateUserConfig %v, want AllowAdminCreateUserOnly", cfg)
		}
		tpl, _ := cfg["InviteMessageTemplate"].(map[string]any)
		if body, _ := tpl["EmailMessage"].(string); !strings.Contains(body, "{username}") || !strings.Contains(body, "{####}") {
			t.Errorf("invitation email %q lacks the username or the temporary password", body)
		}
		if _, ok := pool.props()["LambdaConfig"]; ok {
			t.Error("an invitation-only pool has a trigger")
		}
		config, _ := s.siteFiles(t)
		if config["sign_up"] != `"invite"` {
			t.Errorf("config.json sign_up %s, want invite", config["sign_up"])
		}
		if _, ok := config["sign_up_domains"]; ok {
			t.Error("config.json lists sign-up domains for an invitation-only stack")
		}
		ann := assertions.Annotations_FromStack(s.stack.Stack)
		for _, m := range messages(ann.FindError(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*")))) {
			t.Errorf("unsuppressed cdk-nag error: %s", m)
		}
	})
}

// The site's response headers are web/security-headers.json's, the file
// make dev's web server sends: rendered back from the template's response
// headers policy, header by header, they are the file's, with the API's
// and Cognito's origins in the Content-Security-Policy.
func TestCloudFrontSendsTheHeadersOfWebSecurityHeadersJSON(t *testing.T) {
	s := defaultStack(t)
	b, err := os.ReadFile(filepath.Join("..", "..", "web", promptqstack.HeadersFile))
	if err != nil {
		t.Fatal(err)
	}
	var f struct{ Headers map[string]string }
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	fill := strings.NewReplacer(
		"{api_origin}", "https://${Api}.execute-api.${AWS::Region}.${AWS::URLSuffix}",
		"{cognito_origin}", "https://cognito-idp.${AWS::Region}.${AWS::URLSuffix}")
	want := map[string]string{}
	for k, v := range f.Headers {
		want[strings.ToLower(k)] = fill.Replace(v)
	}

	id, policy := s.byName(t, "SiteHeaders")
	_, cdn := s.byName(t, "Cdn")
	beh := cdn.props()["DistributionConfig"].(map[string]any)["DefaultCacheBehavior"].(map[string]any)
	if got := s.str(beh["ResponseHeadersPolicyId"]); got != "${SiteHeaders}" {
		t.Errorf("the distribution's response headers policy is %s, want %s (SiteHeaders)", got, id)
	}
	got := map[string]string{}
	var notOverriding []string
	override := func(name string, m map[string]any) {
		if m["Override"] != true {
			notOverriding = append(notOverriding, name)
		}
	}
	cfg := policy.props()["ResponseHeadersPolicyConfig"].(map[string]any)
	sec, _ := cfg["SecurityHeadersConfig"].(map[string]any)
	if m, ok := sec["ContentSecurityPolicy"].(map[string]any); ok {
		got["content-security-policy"] = s.str(m["ContentSecurityPolicy"])
		override("content-security-policy", m)
	}
	if m, ok := sec["StrictTransportSecurity"].(map[string]any); ok {
		// As CloudFront writes it.
		age, _ := m["AccessControlMaxAgeSec"].(float64)
		v := fmt.Sprintf("max-age=%d", int64(age))
		if m["IncludeSubdomains"] == true {
			v += "; includeSubDomains"
		}
		if m["Preload"] == true {
			v += "; preload"
		}
		got["strict-transport-security"] = v
		override("strict-transport-security", m)
	}
	if m, ok := sec["ContentTypeOptions"].(map[string]any); ok {
		got["x-content-type-options"] = "nosniff"
		override("x-content-type-options", m)
	}
	if m, ok := sec["FrameOptions"].(map[string]any); ok {
		got["x-frame-options"] = s.str(m["FrameOption"])
		override("x-frame-options", m)
	}
	if m, ok := sec["ReferrerPolicy"].(map[string]any); ok {
		got["referrer-policy"] = s.str(m["ReferrerPolicy"])
		override("referrer-policy", m)
	}
	if _, ok := sec["XSSProtection"]; ok {
		got["x-xss-protection"] = "(set)"
	}
	custom, _ := cfg["CustomHeadersConfig"].(map[string]any)
	for _, item := range list(custom["Items"]) {
		m := item.(map[string]any)
		got[strings.ToLower(s.str(m["Header"]))] = s.str(m["Value"])
		override(s.str(m["Header"]), m)
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("CloudFront sends %s: %q\nweb/%s says: %q", k, got[k], promptqstack.HeadersFile, w)
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("CloudFront sends %s: %q, which web/%s does not define", k, v, promptqstack.HeadersFile)
		}
	}
	if len(notOverriding) > 0 {
		t.Errorf("headers an origin could replace (Override false): %v", notOverriding)
	}
	if csp := got["content-security-policy"]; strings.Contains(csp, "unsafe-") || !strings.Contains(csp, "script-src 'self';") {
		t.Errorf("the policy allows more than the site's own scripts: %s", csp)
	}
}

// Without web/ there is only the placeholder page, which keeps
// CloudFront's managed security headers.
func TestThePlaceholderPageKeepsTheManagedSecurityHeaders(t *testing.T) {
	s := variantStack(t)
	_, cdn := s.byName(t, "Cdn")
	beh := cdn.props()["DistributionConfig"].(map[string]any)["DefaultCacheBehavior"].(map[string]any)
	// The id of AWS's managed SecurityHeadersPolicy.
	if got := s.str(beh["ResponseHeadersPolicyId"]); got != "67f7725c-6f97-4210-82d7-5512b31e9d03" {
		t.Errorf("response headers policy %s, want the managed SecurityHeadersPolicy", got)
	}
	if n := len(s.resources("AWS::CloudFront::ResponseHeadersPolicy")); n != 0 {
		t.Errorf("%d response headers policies without web/", n)
	}
}

// A stack budget reaches the API as PROMPTQ_STACK_TOKENS_PER_DAY, and an
// alarm fires when the tokens the API reserved in 24 hours (a metric filter
// on its "tokens reserved" lines) reach the configured share of it. The
// default stack has neither.
func TestStackTokenBudgetSetsTheAPIAndAnAlarm(t *testing.T) {
	d := defaultStack(t)
	_, api := d.byName(t, "ApiFunction")
	if env := api.props()["Environment"].(map[string]any)["Variables"].(map[string]any); env["PROMPTQ_STACK_TOKENS_PER_DAY"] != nil {
		t.Errorf("the default stack sets a stack budget: %v", env["PROMPTQ_STACK_TOKENS_PER_DAY"])
	}
	check(t, "no budget alarm by default", func() {
		d.template.ResourcePropertiesCountIs(jsii.String("AWS::Logs::MetricFilter"),
			map[string]any{"FilterPattern": "{ $.tokens_reserved > 0 }"}, jsii.Number(0))
	})

	s := variantStack(t)
	_, api = s.byName(t, "ApiFunction")
	if env := api.props()["Environment"].(map[string]any)["Variables"].(map[string]any); env["PROMPTQ_STACK_TOKENS_PER_DAY"] != "5000000" {
		t.Errorf("PROMPTQ_STACK_TOKENS_PER_DAY = %v, want 5000000", env["PROMPTQ_STACK_TOKENS_PER_DAY"])
	}
	check(t, "a metric filter on the API's log for the tokens it reserved", func() {
		s.template.HasResourceProperties(jsii.String("AWS::Logs::MetricFilter"), map[string]any{
			"FilterPattern": "{ $.tokens_reserved > 0 }",
			"LogGroupName":  assertions.Match_AnyValue(),
			"MetricTransformations": []any{map[string]any{
				"MetricNamespace": "promptq", "MetricName": "TokensReserved", "MetricValue": "$.tokens_reserved", "Unit": "Count",
			}},
		})
	})
	_, alarm := s.byName(t, "StackTokenBudget")
	p := alarm.props()
	if p["Threshold"] != 2_500_000.0 || p["Period"] != 86400.0 || p["Statistic"] != "Sum" || p["MetricName"] != "TokensReserved" ||
		len(list(p["AlarmActions"])) != 1 {
		t.Errorf("budget alarm %v, want Sum of TokensReserved over a day at 50%% of 5,000,000, notifying the topic", p)
	}
}

// economyGrants are what both economy functions get: the jobs table's
// economy actions, Queries of the economy lane's and users' partitions,
// the bulk queue (a job that leaves the lane), the runs at Bedrock and
// passing the one service role to Bedrock.
func economyGrants(models []string) []string {
	return slices.Concat(
		expand("Allow", []string{
			"dynamodb:BatchWriteItem", "dynamodb:ConditionCheckItem", "dynamodb:DeleteItem", "dynamodb:GetItem",
			"dynamodb:PutItem", "dynamodb:UpdateItem",
		}, "${Jobs.Arn}"),
		expand("Allow", []string{"dynamodb:Query"}, `${Jobs.Arn} if {"ForAllValues:StringLike":{"dynamodb:LeadingKeys":["ECON","ECON#*","RUN#*","USER#*"]}}`),
		expand("Allow", []string{"sqs:SendMessage"}, "${BulkQueue.Arn}"),
		expand("Allow", []string{"bedrock:CreateModelInvocationJob", "bedrock:GetModelInvocationJob", "bedrock:StopModelInvocationJob"},
			slices.Concat([]string{"arn:${AWS::Partition}:bedrock:${AWS::Region}:${AWS::AccountId}:model-invocation-job/*"}, models)...),
		expand("Allow", []string{"iam:PassRole"}, `${EconomyServiceRole.Arn} if {"StringEquals":{"iam:PassedToService":"bedrock.amazonaws.com"}}`),
	)
}

// economyEnv is what both economy functions are given.
var economyEnv = []string{
	"PROMPTQ_BULK_QUEUE_URL", "PROMPTQ_ECONOMY_BUCKET", "PROMPTQ_ECONOMY_MIN_RECORDS", "PROMPTQ_ECONOMY_QUEUE_URL",
	"PROMPTQ_ECONOMY_ROLE_ARN", "PROMPTQ_INTERACTIVE_QUEUE_URL", "PROMPTQ_TABLE",
}

// mustJSON is v as the stack writes it into config.json: JSON with each
// object's keys sorted, as CloudFormation's resolution leaves them.
func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var generic any
	if err := json.Unmarshal(b, &generic); err != nil {
		t.Fatal(err)
	}
	if b, err = json.Marshal(generic); err != nil {
		t.Fatal(err)
	}
	return string(b)
}
