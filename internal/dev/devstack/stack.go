package devstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/promptq/promptq/internal/apigw"
	"github.com/promptq/promptq/internal/app/api"
	rescuerapp "github.com/promptq/promptq/internal/app/rescuer"
	workerapp "github.com/promptq/promptq/internal/app/worker"
	"github.com/promptq/promptq/internal/catalogue"
	"github.com/promptq/promptq/internal/dev/devstack/devinfo"
	"github.com/promptq/promptq/internal/dev/localbatch"
	"github.com/promptq/promptq/internal/dev/localmodel"
	"github.com/promptq/promptq/internal/dev/standin"
	"github.com/promptq/promptq/internal/dynamo"
	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/rescue"
	"github.com/promptq/promptq/internal/signup"
	"github.com/promptq/promptq/internal/sqsqueue"
)

// Names of what the stack creates in its stand-ins.
const (
	TableName = "promptq-jobs"
	QueueName = "promptq-jobs" // its dead-letter queue is promptq-jobs-dlq
	PoolName  = "promptq-dev"  // the user pool and its app client
)

// Stack is the whole product on one machine. [Stack.Run] starts it and
// returns once it is ready; [Stack.Close] stops every part of it.
type Stack struct {
	cfg     Config
	console io.Writer
	log     *slog.Logger

	lock       *dirLock
	kumo       *kumoProcess
	cognito    *standin.CognitoServer
	codes      *codeWatcher // cognito-local's codes, on the console
	logFiles   []*os.File
	servers    []*http.Server
	stopPoller context.CancelFunc
	pollerDone chan struct{}
	rescueDone chan struct{}
	// The economy lane: its batch stand-in and its loops.
	batch       *localbatch.Server
	economyDone chan struct{}
	info        devinfo.Info
	hooks       Hooks // see hooks.go

	failed   chan struct{} // closed when a part stops on its own
	failOnce sync.Once
	failErr  error
	closing  chan struct{}
	close    sync.Once
}

// New returns a stack that prints what a person needs (URLs, sign-up codes,
// the ready line) to console and logs to logger.
func New(cfg Config, console io.Writer, logger *slog.Logger) *Stack {
	if logger == nil {
		logger = slog.Default()
	}
	return &Stack{
		cfg:     cfg,
		console: console,
		log:     logger,
		failed:  make(chan struct{}),
		closing: make(chan struct{}),
	}
}

// Info is what the running stack wrote to dev.json.
func (s *Stack) Info() devinfo.Info { return s.info }

// Done is closed when a part of the running stack stops on its own (a
// stand-in exits, a server fails); [Stack.Err] says why.
func (s *Stack) Done() <-chan struct{} { return s.failed }

// Err is why the stack stopped on its own, once Done is closed.
func (s *Stack) Err() error {
	select {
	case <-s.failed:
		return s.failErr
	default:
		return nil
	}
}

func (s *Stack) fail(err error) {
	select {
	case <-s.closing:
		return // stopping anyway: not a failure
	default:
	}
	s.failOnce.Do(func() {
		s.failErr = err
		close(s.failed)
	})
}

// Run starts the stand-ins, creates what the product needs in them, and
// starts the API, the web server and the worker's poller. It returns once
// everything answers, having written dev.json and printed the ready line;
// on error it stops what it started. ctx bounds the start only.
func (s *Stack) Run(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			_ = s.Close()
		}
	}()
	cfg := s.cfg
	if IsChild() {
		// A test binary re-executed as the kumo child whose TestMain does
		// not hand it to Main would run its tests, and start stacks, again.
		return errors.New("devstack: this process is a dev stack child: TestMain must call devstack.Main when devstack.IsChild()")
	}
	if s.lock, err = lockDir(cfg.Dir); err != nil {
		return err
	}
	fmt.Fprintf(s.console, "promptq dev: starting (data in %s)\n", cfg.Dir)
	killLeftovers(cfg.Dir)
	_ = os.Remove(devinfo.Path(cfg.Dir)) // until we write ours
	dirs := stackDirs{logs: filepath.Join(cfg.Dir, "logs"), data: filepath.Join(cfg.Dir, "data")}
	for _, d := range []string{dirs.logs, dirs.data} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("create %s: %w", d, err)
		}
	}
	lns, err := takePorts(cfg)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			lns.close()
		}
	}()
	cognitoLog, err := s.startStandins(ctx, lns, dirs)
	if err != nil {
		return err
	}
	res, err := s.createResources(ctx)
	if err != nil {
		return err
	}
	apiCfg, err := s.startFunctions(ctx, lns, res)
	if err != nil {
		return err
	}

	// Tell scripts and people where everything is.
	s.info = devinfo.Info{
		PID:               os.Getpid(),
		WebURL:            lns.webURL(),
		APIURL:            lns.apiURL(),
		Region:            standin.Region,
		UserPoolID:        res.pool.ID,
		ClientID:          res.pool.ClientID,
		Issuer:            res.pool.Issuer,
		CognitoEndpoint:   s.cognito.URL,
		DynamoDBEndpoint:  s.kumo.url,
		SQSEndpoint:       s.kumo.url,
		TableName:         TableName,
		QueueURLs:         res.queueURLs,
		QueueARNs:         queueARNs(ctx, res.sqs, res.queueURLs),
		DLQURL:            res.dlqURL,
		DLQARN:            queueARN(ctx, res.sqs, res.dlqURL),
		MaxReceiveCount:   cfg.MaxReceiveCount,
		VisibilityTimeout: int(cfg.Visibility() / time.Second),
		ModelProvider:     cfg.Provider,
		Models:            apiCfg.Limits.Models,
		DefaultModel:      apiCfg.Limits.DefaultModel,
		CognitoLog:        cognitoLog,
		DataDir:           dirs.data,
		Processes:         map[string]int{"kumo": s.kumo.cmd.Process.Pid, "cognito": childPID("cognito-local")},
	}
	if err := devinfo.Write(cfg.Dir, s.info); err != nil {
		return err
	}
	if err := s.lock.write(lockInfo{PID: os.Getpid(), WebURL: lns.webURL()}); err != nil {
		return err
	}
	s.banner(cognitoLog)
	return nil
}

// stackDirs are where the stack keeps its logs and its stand-ins' data.
type stackDirs struct{ logs, data string }

// ports are the listeners the stack serves on, taken before anything
// starts so a busy port is reported first. cognito-local binds its own
// port (cognitoPort, 0 for any), which is only checked to be free.
type ports struct {
	web, api, aws *net.TCPListener
	cognitoPort   int
}

// takePorts listens on the configured ports, or closes what it took.
func takePorts(cfg Config) (ports, error) {
	web, err := listen(cfg.WebPort, "web app", "PROMPTQ_DEV_WEB_PORT")
	if err != nil {
		return ports{}, err
	}
	api, err := listen(cfg.APIPort, "API", "PROMPTQ_DEV_API_PORT")
	if err != nil {
		_ = web.Close()
		return ports{}, err
	}
	aws, err := listen(cfg.AWSPort, "DynamoDB and SQS (kumo)", "PROMPTQ_DEV_AWS_PORT")
	if err != nil {
		_ = web.Close()
		_ = api.Close()
		return ports{}, err
	}
	if cfg.CognitoPort != 0 {
		ln, err := listen(cfg.CognitoPort, "Cognito (cognito-local)", "PROMPTQ_DEV_COGNITO_PORT")
		if err != nil {
			_ = web.Close()
			_ = api.Close()
			_ = aws.Close()
			return ports{}, err
		}
		_ = ln.Close()
	}
	return ports{web: web, api: api, aws: aws, cognitoPort: cfg.CognitoPort}, nil
}

func (p ports) webURL() string { return "http://" + p.web.Addr().String() }
func (p ports) apiURL() string { return "http://" + p.api.Addr().String() }

// close closes the web and API listeners; kumo owns the AWS one once
// started.
func (p ports) close() { _ = p.web.Close(); _ = p.api.Close() }

// startStandins starts kumo (DynamoDB and SQS) and cognito-local, with the
// pre-sign-up trigger cognito-local calls when sign-up is not open. It
// returns the path of cognito-local's log, where sign-up codes go too.
func (s *Stack) startStandins(ctx context.Context, lns ports, dirs stackDirs) (cognitoLogPath string, err error) {
	kumoLog, err := s.openLog(filepath.Join(dirs.logs, "kumo.log"))
	if err != nil {
		return "", err
	}
	if s.kumo, err = startKumo(ctx, lns.aws, filepath.Join(dirs.data, "kumo"), kumoLog); err != nil {
		return "", fmt.Errorf("%w (log: %s)", err, kumoLog.Name())
	}
	go func() {
		<-s.kumo.exited
		s.fail(fmt.Errorf("kumo (DynamoDB and SQS) exited: %v; see %s", s.kumo.err, kumoLog.Name()))
	}()
	cognitoLog, err := s.openLog(filepath.Join(dirs.logs, "cognito.log"))
	if err != nil {
		return "", err
	}
	s.codes = &codeWatcher{out: s.console}
	cognitoOpts := standin.CognitoOptions{
		Port:    lns.cognitoPort,
		DataDir: filepath.Join(dirs.data, "cognito"),
		Stdout:  io.MultiWriter(cognitoLog, s.codes),
		Code:    s.cfg.CognitoCode,
	}
	if s.cfg.SignUp.Mode != signup.ModeOpen {
		// The pre-sign-up trigger, which cognito-local invokes through
		// Lambda's Invoke API, served here (a free port: only
		// cognito-local calls it).
		trigLn, err := listen(0, "Lambda triggers", "")
		if err != nil {
			return "", err
		}
		trig := &http.Server{Handler: triggerHandler(s.cfg.SignUp, s.log.With("component", "presignup")), ReadHeaderTimeout: 10 * time.Second}
		s.servers = append(s.servers, trig)
		go func() {
			if err := trig.Serve(trigLn); !errors.Is(err, http.ErrServerClosed) {
				s.fail(fmt.Errorf("serve the Lambda triggers on %s: %w", trigLn.Addr(), err))
			}
		}()
		cognitoOpts.Triggers = map[string]string{"PreSignUp": presignupFunction}
		cognitoOpts.LambdaEndpoint = "http://" + trigLn.Addr().String()
	}
	if s.cognito, err = standin.StartCognito(ctx, cognitoOpts); err != nil {
		return "", fmt.Errorf("%w (log: %s)", err, cognitoLog.Name())
	}
	return cognitoLog.Name(), nil
}

// resources are what the stack would create in AWS, created in the
// stand-ins, and the clients that reach them.
type resources struct {
	db        *dynamodb.Client
	sqs       *sqs.Client
	s3        *s3.Client
	queueURLs sqsqueue.LaneURLs // the economy lane's included
	dlqURL    string
	pool      standin.CognitoPool
}

// EconomyBucket is the economy lane's bucket in the S3 stand-in.
const EconomyBucket = "promptq-economy"

// createResources creates the jobs table, the lanes' queues (the economy
// lane's too) and their dead-letter queue, the economy lane's bucket, and
// the user pool with its app client.
func (s *Stack) createResources(ctx context.Context) (resources, error) {
	res := resources{
		db:  standin.DynamoDB(s.kumo.url, s.hooks.dynamoDB),
		sqs: standin.SQS(s.kumo.url, s.hooks.sqs),
		s3:  standin.S3(s.kumo.url, s.hooks.s3),
	}
	if err := dynamo.CreateTable(ctx, res.db, TableName); err != nil {
		return res, err
	}
	var err error
	res.queueURLs, res.dlqURL, err = sqsqueue.CreateLaneQueues(ctx, res.sqs, QueueName, sqsqueue.QueueOptions{
		MaxReceiveCount:   s.cfg.MaxReceiveCount,
		VisibilityTimeout: s.cfg.Visibility(),
	})
	if err != nil {
		return res, err
	}
	if res.queueURLs[jobs.LaneEconomy], err = sqsqueue.CreateEconomyQueue(ctx, res.sqs, QueueName); err != nil {
		return res, err
	}
	if err := createBucket(ctx, res.s3, EconomyBucket); err != nil {
		return res, err
	}
	res.pool, err = s.cognito.Pool(ctx, PoolName)
	return res, err
}

// createBucket creates bucket name, or finds it made by an earlier run.
func createBucket(ctx context.Context, client *s3.Client, name string) error {
	_, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)})
	var owned *s3types.BucketAlreadyOwnedByYou
	var exists *s3types.BucketAlreadyExists
	if err != nil && !errors.As(err, &owned) && !errors.As(err, &exists) {
		return fmt.Errorf("create bucket %s: %w", name, err)
	}
	return nil
}

// startFunctions starts the product's functions as the stack deploys
// them: the API behind the API Gateway stand-in, the worker fed from each
// lane's queue as the event source mappings feed it, the rescuer on its
// schedule, and the web server. It returns the API's configuration, which
// the page's config.json and dev.json repeat.
func (s *Stack) startFunctions(ctx context.Context, lns ports, res resources) (api.Config, error) {
	cfg := s.cfg
	getenv := cfg.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	webURL := lns.webURL()
	origins := []string{webURL}
	if _, port, _ := net.SplitHostPort(lns.web.Addr().String()); port != "" {
		origins = append(origins, "http://localhost:"+port)
	}
	apiEnv := map[string]string{
		"AWS_REGION":             standin.Region,
		"PROMPTQ_TABLE":          TableName,
		"PROMPTQ_USER_POOL_ID":   res.pool.ID,
		"PROMPTQ_COGNITO_ISSUER": res.pool.Issuer,
		"PROMPTQ_JWKS_URL":       "",
		"PROMPTQ_CLIENT_IDS":     res.pool.ClientID,
		"PROMPTQ_WEB_ORIGIN":     strings.Join(origins, ","),
	}
	if cfg.Provider == ProviderLocal {
		models, def := localModels(getenv)
		apiEnv["PROMPTQ_MODELS"] = strings.Join(models, ",")
		apiEnv["PROMPTQ_DEFAULT_MODEL"] = def
	}
	maps.Copy(apiEnv, res.queueURLs.Env())
	apiCfg, err := api.FromEnv(overlay(getenv, apiEnv))
	if err != nil {
		return apiCfg, fmt.Errorf("API config: %w", err)
	}
	// The local model answers for every model: nothing is billed.
	apiCfg.StandIn = cfg.Provider == ProviderLocal
	apiHandler, err := api.New(ctx, apiCfg, api.Clients{
		DynamoDB: res.db,
		SQS:      res.sqs,
		Cognito:  s.hooks.cognito(s.cognito),
	}, s.log.With("component", "api"))
	if err != nil {
		return apiCfg, fmt.Errorf("API: %w", err)
	}
	gw := &gateway{
		fn:                 apigw.Handler(apiHandler),
		functionTimeout:    cfg.APITimeout,
		functionARN:        "arn:aws:lambda:" + standin.Region + ":000000000000:function:promptq-api",
		stage:              "dev",
		log:                s.log.With("component", "gateway"),
		integrationTimeout: integrationTimeout,
	}

	// The worker's model is the dev runner's choice (NewModel): its
	// configuration reads the variables the Lambda reads, and the Lambda
	// calls Bedrock only.
	workerEnv := map[string]string{
		"PROMPTQ_TABLE":             TableName,
		"PROMPTQ_MODEL_PROVIDER":    workerapp.Provider,
		"PROMPTQ_MAX_RECEIVE_COUNT": strconv.Itoa(cfg.MaxReceiveCount),
	}
	maps.Copy(workerEnv, res.queueURLs.Env())
	maps.Copy(workerEnv, cfg.Quota.Env())
	pollers, err := s.newPollers(ctx, overlay(getenv, workerEnv), res.db, res.sqs, res.queueURLs)
	if err != nil {
		return apiCfg, err
	}
	rescuer, err := rescuerapp.New(ctx, rescuerapp.Config{
		Table: TableName, QueueURLs: res.queueURLs, MaxReceiveCount: cfg.MaxReceiveCount, After: cfg.RescueAfter,
	}, rescuerapp.Clients{DynamoDB: res.db, SQS: res.sqs}, s.log.With("component", "rescuer"))
	if err != nil {
		return apiCfg, err
	}

	// The page reaches the user pool through the web server, which
	// answers the call cognito-local lacks (cognitoproxy.go).
	cognitoWeb, err := cognitoProxy(s.cognito.URL, s.cognito.Client, res.pool.ID, s.codes)
	if err != nil {
		return apiCfg, fmt.Errorf("cognito proxy: %w", err)
	}
	web := &http.Server{
		Handler: webHandler(filepath.Join(cfg.Root, "web"), WebConfig{
			Region:          standin.Region,
			UserPoolID:      res.pool.ID,
			ClientID:        res.pool.ClientID,
			APIURL:          lns.apiURL(),
			CognitoEndpoint: webURL + CognitoPath,
			Models:          catalogue.Entries(apiCfg.Limits.Models),
			SignUp:          string(cfg.SignUp.Mode),
			SignUpDomains:   cfg.SignUp.Domains,
			DefaultModel:    apiCfg.Limits.DefaultModel,
			MaxPromptChars:  apiCfg.Limits.MaxPromptChars,
			StandIn:         apiCfg.StandIn,
		}, cognitoWeb),
		ReadHeaderTimeout: 10 * time.Second,
	}
	apiSrv := &http.Server{Handler: gw, ReadHeaderTimeout: 10 * time.Second}
	s.servers = append(s.servers, web, apiSrv)
	for i, ln := range []net.Listener{lns.web, lns.api} {
		srv := []*http.Server{web, apiSrv}[i]
		go func() {
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				s.fail(fmt.Errorf("serve %s: %w", ln.Addr(), err))
			}
		}()
	}
	pctx, stop := context.WithCancel(context.Background())
	s.stopPoller, s.pollerDone = stop, make(chan struct{})
	go func() {
		defer close(s.pollerDone)
		var wg sync.WaitGroup
		for _, p := range pollers {
			wg.Go(func() {
				if err := s.hooks.runPoller(pctx, p); err != nil {
					s.fail(fmt.Errorf("worker's queue poller: %w", err))
				}
			})
		}
		wg.Wait()
	}()
	s.rescueDone = make(chan struct{})
	go func() {
		defer close(s.rescueDone)
		runRescuer(pctx, rescuer, cfg.RescueEvery, s.log)
	}()
	if err := s.startEconomy(pctx, getenv, res); err != nil {
		return apiCfg, err
	}
	return apiCfg, nil
}

// banner prints where everything is, ending with the one line that says
// ready.
func (s *Stack) banner(cognitoLog string) {
	rel := func(p string) string {
		if r, err := filepath.Rel(s.cfg.Root, p); err == nil && !strings.HasPrefix(r, "..") {
			return r
		}
		return p
	}
	signUp := "open to anyone (PROMPTQ_SIGN_UP=domains or invite limits it)"
	switch s.cfg.SignUp.Mode {
	case signup.ModeDomains:
		signUp = "only addresses at " + strings.Join(s.cfg.SignUp.Domains, ", ")
	case signup.ModeInvite:
		signUp = "by invitation: create users with AdminCreateUser (the Cognito API at the endpoint in dev.json)"
	}
	model := fmt.Sprintf("%s (the local stand-in: not a real LLM; PROMPTQ_MODEL_PROVIDER=bedrock uses Amazon Bedrock)", s.info.DefaultModel)
	if s.cfg.Provider == ProviderBedrock {
		model = fmt.Sprintf("Amazon Bedrock with your AWS credentials, default model %s", s.info.DefaultModel)
	}
	fmt.Fprintf(s.console, `
  web app        %s
  API            %s
  model          %s
  sign-up        %s
  sign-up codes  printed here ("%s<email>: <code>") and in %s
  for scripts    %s
  data           %s (kept across restarts; make dev-reset deletes it)

promptq dev: ready at %s (Ctrl-C stops everything)
`, s.info.WebURL, s.info.APIURL, model, signUp, CodeLinePrefix, rel(cognitoLog),
		rel(devinfo.Path(s.cfg.Dir)), rel(s.info.DataDir), s.info.WebURL)
}

// Close stops the worker's poller (releasing the messages it was working
// on), the servers and the stand-ins, and removes dev.json and the lock.
func (s *Stack) Close() error {
	s.close.Do(func() {
		close(s.closing)
		if s.stopPoller != nil {
			s.stopPoller()
			<-s.pollerDone
			<-s.rescueDone
			if s.economyDone != nil {
				<-s.economyDone
			}
		}
		if s.batch != nil {
			s.batch.Close()
		}
		for _, srv := range s.servers {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			if srv.Shutdown(ctx) != nil {
				_ = srv.Close()
			}
			cancel()
		}
		if s.cognito != nil {
			_ = s.cognito.Close()
		}
		if s.kumo != nil {
			s.kumo.stop()
		}
		for _, f := range s.logFiles {
			_ = f.Close()
		}
		if s.lock != nil {
			_ = os.Remove(devinfo.Path(s.cfg.Dir))
			s.lock.release()
		}
	})
	return nil
}

func (s *Stack) openLog(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	s.logFiles = append(s.logFiles, f)
	return f, nil
}

// PortError is a port that something else holds.
type PortError struct {
	Port int
	What string // what the dev stack wanted it for
	Env  string // the variable that changes it
	Err  error
}

func (e *PortError) Error() string {
	return fmt.Sprintf("port %d (%s) is in use by another program; stop it, or choose another port with %s=<port>",
		e.Port, e.What, e.Env)
}

func (e *PortError) Unwrap() error { return e.Err }

// listen takes port on 127.0.0.1.
func listen(port int, what, env string) (*net.TCPListener, error) {
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, &PortError{Port: port, What: what, Env: env, Err: err}
		}
		return nil, fmt.Errorf("listen on 127.0.0.1:%d (%s, %s): %w", port, what, env, err)
	}
	return ln, nil
}

// localModels is the API's allow-list with the local model: the local
// model first and, unless PROMPTQ_DEFAULT_MODEL says otherwise, the
// default, then the configured (or default) Bedrock ids, which the local
// model stands in for.
func localModels(getenv func(string) string) (models []string, def string) {
	models = []string{localmodel.ID}
	configured := strings.Split(getenv("PROMPTQ_MODELS"), ",")
	if strings.TrimSpace(getenv("PROMPTQ_MODELS")) == "" {
		configured = jobs.DefaultLimits().Models
	}
	for _, m := range configured {
		if m = strings.TrimSpace(m); m != "" && !slices.Contains(models, m) {
			models = append(models, m)
		}
	}
	def = strings.TrimSpace(getenv("PROMPTQ_DEFAULT_MODEL"))
	if def == "" {
		def = localmodel.ID
	}
	return models, def
}

// overlay returns getenv with the values of set taking precedence (an
// empty value unsets).
func overlay(getenv func(string) string, set map[string]string) func(string) string {
	return func(k string) string {
		if v, ok := set[k]; ok {
			return v
		}
		return getenv(k)
	}
}

// queueARN is the queue's ARN, or "" if it cannot be read (dev.json
// then lacks it; nothing in the stack needs it).
func queueARN(ctx context.Context, client *sqs.Client, url string) string {
	arn, _ := sqsqueue.QueueARN(ctx, client, url)
	return arn
}

// queueARNs is queueARN of each lane's queue.
func queueARNs(ctx context.Context, client *sqs.Client, urls sqsqueue.LaneURLs) map[jobs.Lane]string {
	arns := map[jobs.Lane]string{}
	for lane, url := range urls {
		arns[lane] = queueARN(ctx, client, url)
	}
	return arns
}

// runRescuer runs r every interval until ctx ends, as the stack's schedule
// runs the rescuer Lambda. A failed run is logged; the next one tries
// again.
func runRescuer(ctx context.Context, r *rescue.Rescuer, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := r.Run(ctx); err != nil && ctx.Err() == nil {
			log.Warn("rescue run failed; the next one tries again", "component", "rescuer", "error", err)
		}
	}
}
