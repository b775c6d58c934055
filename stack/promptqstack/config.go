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

	"github.com/promptq/promptq/internal/catalogue"
	"github.com/promptq/promptq/internal/quota"
)

// DefaultModel is the model the API uses when a request names none: the
// catalogue's default, Claude Haiku 4.5 through the US cross-region
// inference profile (fast, cheap, and the profile spreads load over three
// regions' quotas).
const DefaultModel = catalogue.DefaultModel

// Context keys (cdk.json "context", or `cdk ... -c key=value`). Listed with
// their meaning in docs/configuration.md.
const (
	CtxAPIAsset           = "promptq:apiAsset"
	CtxWorkerAsset        = "promptq:workerAsset"
	CtxRescuerAsset       = "promptq:rescuerAsset"
	CtxPresignupAsset     = "promptq:presignupAsset"
	CtxJobEventsAsset     = "promptq:jobEventsAsset"
	CtxCollectorAsset     = "promptq:collectorAsset"
	CtxCompletionAsset    = "promptq:completionAsset"
	CtxEconomy            = "promptq:economy"
	CtxEconomyRetention   = "promptq:economyRetentionDays"
	CtxEconomyMinRecords  = "promptq:economyMinRecords"
	CtxWebDir             = "promptq:webDir"
	CtxModels             = "promptq:models"
	CtxDefaultModel       = "promptq:defaultModel"
	CtxProfileRegions     = "promptq:profileRegions"
	CtxAlarmEmail         = "promptq:alarmEmail"
	CtxDeletionProtection = "promptq:deletionProtection"
	CtxAPIGatewayLogRole  = "promptq:apiGatewayLogRole"
	CtxModelConcurrency   = "promptq:modelConcurrency"
	CtxModelTPM           = "promptq:modelTokensPerMinute"
	CtxInteractiveShare   = "promptq:interactiveShare"
	CtxFairShares         = "promptq:fairShares"
	CtxBulkWaitAlarm      = "promptq:bulkWaitAlarmMinutes"
	CtxMaxReceiveCount    = "promptq:maxReceiveCount"
	CtxThrottleRate       = "promptq:throttleRateLimit"
	CtxThrottleBurst      = "promptq:throttleBurstLimit"
	CtxWAFRateLimit       = "promptq:wafRateLimit"
	CtxStackTokensPerDay  = "promptq:stackTokensPerDay"
	CtxStackBudgetAlarm   = "promptq:stackBudgetAlarmPercent"
	CtxSignUp             = "promptq:signUp"
	CtxSignUpDomains      = "promptq:signUpDomains"
)

// Sign-up modes (Config.SignUp), as internal/signup names them.
const (
	SignUpOpen    = "open"    // anyone may sign up
	SignUpDomains = "domains" // addresses at SignUpDomains only (the pre-sign-up trigger)
	SignUpInvite  = "invite"  // administrators create users; no self sign-up
)

// Config is every deploy-time choice the stack makes. Build one with
// DefaultConfig or ConfigFromContext; New validates it.
type Config struct {
	// APIAsset, WorkerAsset and RescuerAsset are folders holding each
	// function's `bootstrap` executable (linux/arm64), as `make build`
	// writes them.
	APIAsset     string
	WorkerAsset  string
	RescuerAsset string
	// PresignupAsset is the pre-sign-up trigger's folder, needed only
	// when SignUp is SignUpDomains.
	PresignupAsset string
	// JobEventsAsset is the jobevents function's folder (the jobs
	// table's stream to EventBridge and the job metrics).
	JobEventsAsset string
	// Economy deploys the economy lane (issue 16): its queue, the run
	// files' bucket, Bedrock's service role, and the collector and
	// completion functions (CollectorAsset, CompletionAsset), whose
	// folders are then needed. EconomyRetentionDays is how long run files
	// are kept; EconomyMinRecords is Bedrock's minimum records per job for
	// the account (its Service Quotas).
	Economy              bool
	CollectorAsset       string
	CompletionAsset      string
	EconomyRetentionDays int
	EconomyMinRecords    int
	// WebDir is the static site. When it is empty or missing, the stack
	// deploys a one-line placeholder page instead, so synth works before
	// web/ exists.
	WebDir string

	// Models is the allow-list the API accepts (PROMPTQ_MODELS) and the set
	// the worker may invoke. Ids with a geography prefix ("us.", "eu.", ...)
	// are cross-region inference profiles; others are foundation models in
	// the stack's region.
	Models []string
	// DefaultModel is used when a request names none; it must be in Models.
	DefaultModel string
	// ProfileRegions maps an inference profile's prefix to the regions it
	// routes to. The worker's Bedrock permission names the foundation model
	// in each of them. A prefix not listed gets a region wildcard.
	ProfileRegions map[string][]string

	// AlarmEmail, when set, subscribes this address to the alarm topic.
	AlarmEmail string
	// DeletionProtection keeps the table, the user pool and the log bucket
	// when the stack is deleted (and blocks deleting the table and pool by
	// hand). Off by default so `make destroy` leaves nothing behind.
	DeletionProtection bool
	// APIGatewayLogRole makes the stack set the account's API Gateway
	// CloudWatch role, which API Gateway needs before it can write access and
	// execution logs. Turn it off when the account already has one.
	APIGatewayLogRole bool

	// Quota is what the account may ask of the models (the Service Quotas
	// console, service code bedrock): how many generations may run at once
	// (ModelConcurrency, all lanes together) and, if known, each model's
	// tokens-per-minute quota (ModelTokensPerMinute, 0: unknown, not
	// paced). The lanes' concurrencies are derived from it by
	// quota.Quota.Split: InteractiveShare of it, at least 2, is reserved
	// for the interactive lane, and the bulk lane gets the rest, and may
	// borrow the reserve while the interactive lane does not use it. The
	// interactive lane's event source mapping runs at most its share of
	// worker invocations, one job each, and the bulk lane's the whole
	// concurrency (quota.Quota.MappingConcurrency); the worker's seats of
	// each model bound the generations at once.
	Quota quota.Quota
	// FairShares holds each user to a fair share of their lane (on in AWS
	// alongside SQS fair queues: it also caps a user's running jobs when
	// nobody else is queued yet).
	FairShares bool
	// BulkWaitAlarmMinutes is how old the bulk queue's oldest message may
	// get before an alarm says the bulk lane is not keeping up.
	BulkWaitAlarmMinutes int
	// MaxReceiveCount is how often a message is received before SQS moves it
	// to the dead-letter queue.
	MaxReceiveCount int

	// ThrottleRateLimit and ThrottleBurstLimit are the API stage's steady
	// requests per second and burst, for all callers together.
	ThrottleRateLimit  int
	ThrottleBurstLimit int

	// SignUp is how people get accounts: SignUpOpen (anyone),
	// SignUpDomains (addresses at SignUpDomains only, enforced by a
	// pre-sign-up trigger) or SignUpInvite (administrators create users
	// with AdminCreateUser; the pool refuses self sign-up). The site's
	// config.json tells the web app which.
	SignUp        string
	SignUpDomains []string

	// WAFRateLimit, when above 0, puts an AWS WAF web ACL in front of the
	// API stage with one rate-based rule: a client (one Authorization
	// header) sending more than this many requests in a minute is answered
	// 429 at the edge, before API Gateway counts it against the stage
	// throttle. 0 (the default): no web ACL, which costs a monthly fee
	// even while idle. WAF accepts 10 and up.
	WAFRateLimit int

	// StackTokensPerDay, when above 0, caps the tokens all users together
	// may commit in a UTC day (reservations of jobs not ended plus what
	// ended jobs were charged): once spent, submissions are refused with
	// 429 stack_tokens_per_day until 00:00 UTC. 0 (the default): no cap.
	StackTokensPerDay int
	// StackBudgetAlarmPercent is the share of StackTokensPerDay that the
	// tokens reserved in 24 hours may reach before an alarm fires (only
	// with a stack budget).
	StackBudgetAlarmPercent int
}

// DefaultConfig is the configuration `make deploy` uses unless context
// overrides it. Asset paths are relative to the stack/ folder, where the CDK
// CLI runs the app.
func DefaultConfig() Config {
	return Config{
		APIAsset:             filepath.Join("..", "bin", "api"),
		WorkerAsset:          filepath.Join("..", "bin", "worker"),
		RescuerAsset:         filepath.Join("..", "bin", "rescuer"),
		PresignupAsset:       filepath.Join("..", "bin", "presignup"),
		JobEventsAsset:       filepath.Join("..", "bin", "jobevents"),
		Economy:              true,
		CollectorAsset:       filepath.Join("..", "bin", "collector"),
		CompletionAsset:      filepath.Join("..", "bin", "completion"),
		EconomyRetentionDays: 14,
		EconomyMinRecords:    100,
		SignUp:               SignUpOpen,
		WebDir:               filepath.Join("..", "web"),
		Models:               slices.Clone(catalogue.DefaultModels),
		DefaultModel:         DefaultModel,
		ProfileRegions: map[string][]string{
			// The US profiles of Anthropic models route to these three.
			"us": {"us-east-1", "us-east-2", "us-west-2"},
		},
		APIGatewayLogRole: true,
		// 10 generations at once, a quarter of them for the interactive
		// lane (3 interactive, 7 bulk): safe for a new account's Bedrock
		// quota. Raise modelConcurrency, and set modelTokensPerMinute, from
		// the account's quota (docs/configuration.md says how).
		Quota:      quota.Default(),
		FairShares: true,
		// A backlog whose oldest message waited six hours is not keeping
		// up with what is submitted (or the quota is far too small).
		BulkWaitAlarmMinutes: 360,
		// Warn well before the stack's daily budget refuses jobs.
		StackBudgetAlarmPercent: 80,
		// AWS recommends at least 5 for Lambda consumers so that throttled
		// invocations don't send messages to the DLQ early; the worker also
		// releases a job back to the queue before its deadline, which costs a
		// receive.
		MaxReceiveCount: 5,
		// Sized for 500 people watching a job at once (the web app polls
		// once a second) and 20 batch users polling (at most 8 requests a
		// second each): about 700 requests a second, with room above it.
		// Each user is held to the API's per-user rate (10 a second), so
		// it takes 100 users at their limit to fill the stage
		// (docs/reliability.md, "The API's edge").
		ThrottleRateLimit:  1000,
		ThrottleBurstLimit: 2000,
	}
}

// ConfigFromContext starts from DefaultConfig and applies the context values
// that get returns (nil when a key is unset). Values given with -c arrive as
// strings; values from cdk.json keep their JSON types; both are accepted.
func ConfigFromContext(get func(key string) any) (Config, error) {
	c := DefaultConfig()
	var errs []error
	str := func(key string, dst *string) {
		if v := get(key); v != nil {
			s, ok := v.(string)
			if !ok {
				errs = append(errs, fmt.Errorf("context %s: want a string, got %T", key, v))
				return
			}
			*dst = strings.TrimSpace(s)
		}
	}
	boolean := func(key string, dst *bool) {
		switch v := get(key).(type) {
		case nil:
		case bool:
			*dst = v
		case string:
			b, err := strconv.ParseBool(strings.TrimSpace(v))
			if err != nil {
				errs = append(errs, fmt.Errorf("context %s: want true or false, got %q", key, v))
				return
			}
			*dst = b
		default:
			errs = append(errs, fmt.Errorf("context %s: want true or false, got %T", key, v))
		}
	}
	integer := func(key string, dst *int) {
		switch v := get(key).(type) {
		case nil:
		case float64:
			if v != float64(int(v)) {
				errs = append(errs, fmt.Errorf("context %s: want a whole number, got %v", key, v))
				return
			}
			*dst = int(v)
		case string:
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				errs = append(errs, fmt.Errorf("context %s: want a whole number, got %q", key, v))
				return
			}
			*dst = n
		default:
			errs = append(errs, fmt.Errorf("context %s: want a whole number, got %T", key, v))
		}
	}

	number := func(key string, dst *float64) {
		switch v := get(key).(type) {
		case nil:
		case float64:
			*dst = v
		case string:
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				errs = append(errs, fmt.Errorf("context %s: want a number, got %q", key, v))
				return
			}
			*dst = f
		default:
			errs = append(errs, fmt.Errorf("context %s: want a number, got %T", key, v))
		}
	}

	str(CtxAPIAsset, &c.APIAsset)
	str(CtxWorkerAsset, &c.WorkerAsset)
	str(CtxRescuerAsset, &c.RescuerAsset)
	str(CtxPresignupAsset, &c.PresignupAsset)
	str(CtxJobEventsAsset, &c.JobEventsAsset)
	str(CtxCollectorAsset, &c.CollectorAsset)
	str(CtxCompletionAsset, &c.CompletionAsset)
	str(CtxSignUp, &c.SignUp)
	if v := get(CtxSignUpDomains); v != nil {
		domains, err := stringList(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("context %s: %w", CtxSignUpDomains, err))
		} else {
			for _, d := range domains {
				c.SignUpDomains = append(c.SignUpDomains, strings.ToLower(d))
			}
		}
	}
	str(CtxWebDir, &c.WebDir)
	if v := get(CtxModels); v != nil {
		models, err := stringList(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("context %s: %w", CtxModels, err))
		} else {
			c.Models = models
			// A new allow-list without an explicit default defaults to its
			// first entry, not to a model that may not be on it.
			c.DefaultModel = models[0]
		}
	}
	str(CtxDefaultModel, &c.DefaultModel)
	if v := get(CtxProfileRegions); v != nil {
		m, err := regionMap(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("context %s: %w", CtxProfileRegions, err))
		} else {
			c.ProfileRegions = m
		}
	}
	str(CtxAlarmEmail, &c.AlarmEmail)
	boolean(CtxDeletionProtection, &c.DeletionProtection)
	boolean(CtxEconomy, &c.Economy)
	integer(CtxEconomyRetention, &c.EconomyRetentionDays)
	integer(CtxEconomyMinRecords, &c.EconomyMinRecords)
	boolean(CtxAPIGatewayLogRole, &c.APIGatewayLogRole)
	integer(CtxModelConcurrency, &c.Quota.Concurrency)
	integer(CtxModelTPM, &c.Quota.TokensPerMinute)
	number(CtxInteractiveShare, &c.Quota.InteractiveShare)
	boolean(CtxFairShares, &c.FairShares)
	integer(CtxBulkWaitAlarm, &c.BulkWaitAlarmMinutes)
	integer(CtxMaxReceiveCount, &c.MaxReceiveCount)
	for _, gone := range []string{"promptq:workerBatchSize", "promptq:workerMaxConcurrency"} {
		if get(gone) != nil {
			errs = append(errs, fmt.Errorf("context %s is gone: the worker takes one job an invocation, and each lane's concurrency comes from %s (and %s)",
				gone, CtxModelConcurrency, CtxInteractiveShare))
		}
	}
	integer(CtxThrottleRate, &c.ThrottleRateLimit)
	integer(CtxThrottleBurst, &c.ThrottleBurstLimit)
	integer(CtxWAFRateLimit, &c.WAFRateLimit)
	integer(CtxStackTokensPerDay, &c.StackTokensPerDay)
	integer(CtxStackBudgetAlarm, &c.StackBudgetAlarmPercent)

	if err := errors.Join(errs...); err != nil {
		return Config{}, err
	}
	return c, c.Validate()
}

// Validate reports every problem with c at once.
func (c Config) Validate() error {
	var errs []error
	if c.APIAsset == "" || c.WorkerAsset == "" || c.RescuerAsset == "" || c.JobEventsAsset == "" {
		errs = append(errs, errors.New("the api, worker, rescuer and jobevents asset folders must be set"))
	}
	if len(c.Models) == 0 {
		errs = append(errs, errors.New("models: at least one model is needed"))
	}
	if c.Economy {
		if c.CollectorAsset == "" || c.CompletionAsset == "" {
			errs = append(errs, errors.New("economy: the collector and completion asset folders must be set"))
		}
		if c.EconomyRetentionDays < 1 {
			errs = append(errs, fmt.Errorf("economyRetentionDays %d: want at least 1", c.EconomyRetentionDays))
		}
		if c.EconomyMinRecords < 1 {
			errs = append(errs, fmt.Errorf("economyMinRecords %d: want at least 1", c.EconomyMinRecords))
		}
	}
	for _, m := range c.Models {
		entry, ok := catalogue.Lookup(m)
		switch {
		case m == "" || strings.ContainsAny(m, ", \t"):
			errs = append(errs, fmt.Errorf("models: %q is not a model id", m))
		case !ok:
			errs = append(errs, fmt.Errorf("models: %q is not in the model catalogue (internal/catalogue), which knows its limits and prices", m))
		case entry.Local:
			errs = append(errs, fmt.Errorf("models: %q is the local stand-in, which Bedrock does not have", m))
		}
	}
	if !slices.Contains(c.Models, c.DefaultModel) {
		errs = append(errs, fmt.Errorf("defaultModel %q is not in models %v", c.DefaultModel, c.Models))
	}
	if c.AlarmEmail != "" && !strings.Contains(c.AlarmEmail, "@") {
		errs = append(errs, fmt.Errorf("alarmEmail %q is not an email address", c.AlarmEmail))
	}
	if err := c.Quota.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("%s, %s, %s: %w", CtxModelConcurrency, CtxInteractiveShare, CtxModelTPM, err))
	} else if l := c.Quota.Split(); l.Interactive > quota.MaxMappingConcurrency || l.Bulk > quota.MaxMappingConcurrency {
		// The interactive lane's mapping runs its share; the bulk lane's
		// the whole quota, at most 1000, which must cover its own share.
		errs = append(errs, fmt.Errorf("%s: lanes of %d and %d, but an SQS event source runs at most %d at once",
			CtxModelConcurrency, l.Interactive, l.Bulk, quota.MaxMappingConcurrency))
	}
	if c.StackTokensPerDay < 0 {
		errs = append(errs, fmt.Errorf("stackTokensPerDay %d: want 0 (no cap) or more", c.StackTokensPerDay))
	}
	if c.StackBudgetAlarmPercent < 1 || c.StackBudgetAlarmPercent > 100 {
		errs = append(errs, fmt.Errorf("stackBudgetAlarmPercent %d: want 1..100", c.StackBudgetAlarmPercent))
	}
	if c.BulkWaitAlarmMinutes < 1 {
		errs = append(errs, fmt.Errorf("bulkWaitAlarmMinutes %d: want at least 1", c.BulkWaitAlarmMinutes))
	}
	if c.MaxReceiveCount < 1 || c.MaxReceiveCount > 1000 {
		errs = append(errs, fmt.Errorf("maxReceiveCount %d: want 1..1000", c.MaxReceiveCount))
	}
	if c.ThrottleRateLimit < 1 || c.ThrottleBurstLimit < 1 {
		errs = append(errs, fmt.Errorf("throttle limits must be positive (rate %d, burst %d)", c.ThrottleRateLimit, c.ThrottleBurstLimit))
	}
	switch c.SignUp {
	case SignUpOpen, SignUpInvite:
		if len(c.SignUpDomains) > 0 {
			errs = append(errs, fmt.Errorf("signUpDomains are only for signUp %q, not %q", SignUpDomains, c.SignUp))
		}
	case SignUpDomains:
		if len(c.SignUpDomains) == 0 {
			errs = append(errs, fmt.Errorf("signUp %q needs signUpDomains, such as example.com,example.org", SignUpDomains))
		}
		for _, d := range c.SignUpDomains {
			if !emailDomain.MatchString(d) {
				errs = append(errs, fmt.Errorf("signUpDomains: %q is not an email domain such as example.com", d))
			}
		}
		if c.PresignupAsset == "" {
			errs = append(errs, fmt.Errorf("signUp %q needs the presignup asset folder", SignUpDomains))
		}
	default:
		errs = append(errs, fmt.Errorf("signUp %q: want %q, %q or %q", c.SignUp, SignUpOpen, SignUpDomains, SignUpInvite))
	}
	if c.WAFRateLimit != 0 && (c.WAFRateLimit < 10 || c.WAFRateLimit > 2_000_000_000) {
		errs = append(errs, fmt.Errorf("wafRateLimit %d: want 0 (no web ACL) or 10..2000000000 requests a minute", c.WAFRateLimit))
	}
	return errors.Join(errs...)
}

// emailDomain is a host name of two or more labels, lower case, as
// internal/signup accepts it.
var emailDomain = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// checkAssets reports a missing bootstrap binary with what to do about it.
func (c Config) checkAssets() error {
	var errs []error
	dirs := []string{c.APIAsset, c.WorkerAsset, c.RescuerAsset, c.JobEventsAsset}
	if c.SignUp == SignUpDomains {
		dirs = append(dirs, c.PresignupAsset)
	}
	if c.Economy {
		dirs = append(dirs, c.CollectorAsset, c.CompletionAsset)
	}
	for _, dir := range dirs {
		p := filepath.Join(dir, "bootstrap")
		if _, err := os.Stat(p); err != nil {
			errs = append(errs, fmt.Errorf("%s is missing: run `make build` first (%w)", p, err))
		}
	}
	return errors.Join(errs...)
}

// webDirExists says whether WebDir is a folder to deploy.
func (c Config) webDirExists() bool {
	if c.WebDir == "" {
		return false
	}
	fi, err := os.Stat(c.WebDir)
	return err == nil && fi.IsDir()
}

// stringList accepts "a,b" or a JSON array of strings.
func stringList(v any) ([]string, error) {
	var out []string
	switch v := v.(type) {
	case string:
		s := strings.TrimSpace(v)
		if strings.HasPrefix(s, "[") {
			if err := json.Unmarshal([]byte(s), &out); err != nil {
				return nil, fmt.Errorf("want a comma-separated list or a JSON array of strings: %w", err)
			}
			break
		}
		for _, part := range strings.Split(s, ",") {
			out = append(out, strings.TrimSpace(part))
		}
	case []any:
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("want strings, got %T", e)
			}
			out = append(out, strings.TrimSpace(s))
		}
	default:
		return nil, fmt.Errorf("want a comma-separated list or a JSON array of strings, got %T", v)
	}
	var kept []string
	for _, s := range out {
		if s != "" {
			kept = append(kept, s)
		}
	}
	if len(kept) == 0 {
		return nil, errors.New("the list is empty")
	}
	return kept, nil
}

// regionMap accepts prefix → regions as "eu=eu-west-1,eu-west-3;us=us-east-1"
// (easy to pass through a shell with -c), as a JSON object string, or as
// decoded JSON (from cdk.json).
func regionMap(v any) (map[string][]string, error) {
	if s, ok := v.(string); ok {
		s = strings.TrimSpace(s)
		var m map[string][]string
		if strings.HasPrefix(s, "{") {
			if err := json.Unmarshal([]byte(s), &m); err != nil {
				return nil, fmt.Errorf(`want a JSON object like {"us":["us-east-1","us-west-2"]}: %w`, err)
			}
			return m, nil
		}
		m = map[string][]string{}
		for _, entry := range strings.Split(s, ";") {
			prefix, regions, ok := strings.Cut(entry, "=")
			prefix = strings.TrimSpace(prefix)
			if !ok || prefix == "" {
				return nil, fmt.Errorf("want prefix=region,region;prefix=region, got %q", entry)
			}
			list, err := stringList(regions)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", prefix, err)
			}
			m[prefix] = list
		}
		return m, nil
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("want a JSON object, got %T", v)
	}
	m := make(map[string][]string, len(obj))
	for k, e := range obj {
		regions, err := stringList(e)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		m[k] = regions
	}
	return m, nil
}
