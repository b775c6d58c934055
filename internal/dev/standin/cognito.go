package standin

// Cognito user pools: cognito-local (npm, pinned and installed by
// `make tools`) runs as a child process on 127.0.0.1.
//
// [Cognito] gives a test a running cognito-local with a fresh user pool and
// app client; [StartCognito] (with [CognitoOptions] for a fixed port and a
// persistent data dir) is the same start for the dev runner.
//
// cognito-local signs tokens with RS256 and serves the pool's JWKS, but its
// GetUser checks neither signatures nor expiry: whatever verifies tokens
// must do that itself. Its signing key ships inside the npm package, so its
// tokens prove nothing outside a laptop.

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"
)

// cognitoLocalPath is where `make tools` installs cognito-local, relative to
// the tools dir (.tools at the repo root, or $PROMPTQ_TOOLS).
var cognitoLocalPath = filepath.Join("node", "node_modules", ".bin", "cognito-local")

// cognitoLocalStart starts cognito-local with its log lines written
// through process.stdout: its own start script can hold a sign-up code's
// line back until more output comes (the script says why).
//
//go:embed cognito-local.js
var cognitoLocalStart string

// cognitoLogMax is how much of cognito-local's output a test keeps.
const cognitoLogMax = 64 << 10

// cognitoStartTimeout bounds the wait for cognito-local to answer when the
// caller's context has no deadline. It starts in about a second.
const cognitoStartTimeout = 30 * time.Second

// CognitoLocalBinary returns the path of the cognito-local executable:
// under $PROMPTQ_TOOLS if set (as `make test` does), else under the .tools
// dir of the nearest enclosing directory that has one (the repo root, for
// tests running in a package dir).
func CognitoLocalBinary() (string, error) {
	return ToolPath(cognitoLocalPath)
}

// ToolPath finds a tool that `make tools` installed, by its path relative
// to the tools dir: $PROMPTQ_TOOLS if set (as `make test` does), else the
// .tools dir of the nearest enclosing directory that has one (the repo
// root, for tests running in a package dir).
func ToolPath(rel string) (string, error) {
	if dir := os.Getenv("PROMPTQ_TOOLS"); dir != "" {
		p := filepath.Join(dir, rel)
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s not found at %s (PROMPTQ_TOOLS): %w", filepath.Base(rel), p, err)
		}
		return p, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find %s: %w", rel, err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		p := filepath.Join(dir, ".tools", rel)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("%s not found in .tools/%s of %s or any parent", filepath.Base(rel), rel, wd)
		}
	}
}

// RequireTool returns the tool's path, or ends the test: a failure under
// `make test` (PROMPTQ_REQUIRE_STANDINS=1), where a missing tool is a broken
// install, and a skip in a plain `go test`, saying how to get it.
func RequireTool(t TB, rel string) string {
	t.Helper()
	p, err := ToolPath(rel)
	if err != nil {
		if os.Getenv("PROMPTQ_REQUIRE_STANDINS") == "1" {
			t.Fatalf("%v (make test installs it)", err)
		}
		t.Skipf("%v; run `make tools` to install it", err)
	}
	return p
}

// CognitoOptions configures [StartCognito]. The zero value is what tests
// want: a free port, a temporary data dir, output discarded.
type CognitoOptions struct {
	// Port to listen on, on 127.0.0.1. 0 picks a free one.
	Port int
	// DataDir keeps cognito-local's state (it writes DataDir/.cognito/).
	// Empty: a temporary dir, removed by Close.
	DataDir string
	// Stdout receives cognito-local's output, which includes the
	// confirmation codes of sign-ups. nil discards it.
	Stdout io.Writer
	// Code, if set, is every confirmation code cognito-local sends
	// (its CODE variable), so a script can confirm sign-ups blindly.
	Code string
	// Binary is the cognito-local executable. Empty: [CognitoLocalBinary].
	Binary string
	// Triggers maps a user pool trigger (cognito-local's names:
	// "PreSignUp", ...) to the Lambda function name cognito-local invokes
	// for it, with Lambda's Invoke API at LambdaEndpoint. cognito-local
	// runs the triggers of every pool it holds. None: no triggers.
	Triggers       map[string]string
	LambdaEndpoint string
}

// CognitoServer is a running cognito-local.
type CognitoServer struct {
	URL    string      // base URL, http://127.0.0.1:port; also the issuer's prefix
	Client *cip.Client // an SDK client for it

	cmd     *exec.Cmd
	exited  chan struct{} // closed when the process has exited
	waitErr error         // set before exited is closed
	tempDir string
	close   sync.Once
}

// StartCognito starts cognito-local and returns once it answers. ctx
// bounds the start only (default 30 s if it has no deadline); the process
// runs until Close.
func StartCognito(ctx context.Context, opts CognitoOptions) (*CognitoServer, error) {
	bin := opts.Binary
	if bin == "" {
		var err error
		if bin, err = CognitoLocalBinary(); err != nil {
			return nil, err
		}
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cognitoStartTimeout)
		defer cancel()
	}
	// A free port found by listening and closing can be taken by someone
	// else before cognito-local binds it; then it exits, and we try anew.
	attempts := 1
	if opts.Port == 0 {
		attempts = 3
	}
	var err error
	for range attempts {
		var s *CognitoServer
		if s, err = startCognito(ctx, bin, opts); err == nil {
			return s, nil
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, err
}

func startCognito(ctx context.Context, bin string, opts CognitoOptions) (*CognitoServer, error) {
	port := opts.Port
	if port == 0 {
		var err error
		if port, err = cognitoFreePort(); err != nil {
			return nil, err
		}
	}
	s := &CognitoServer{
		URL:    "http://127.0.0.1:" + strconv.Itoa(port),
		exited: make(chan struct{}),
	}
	dataDir := opts.DataDir
	if dataDir == "" {
		var err error
		if dataDir, err = os.MkdirTemp("", "promptq-cognito-"); err != nil {
			return nil, fmt.Errorf("start cognito-local: %w", err)
		}
		s.tempDir = dataDir
	} else if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, fmt.Errorf("start cognito-local: %w", err)
	}

	if err := writeCognitoConfig(dataDir, opts); err != nil {
		s.removeTemp()
		return nil, err
	}
	out := opts.Stdout
	if out == nil {
		out = io.Discard
	}
	cmd, err := cognitoCommand(bin)
	if err != nil {
		s.removeTemp()
		return nil, err
	}
	cmd.Dir = dataDir // cognito-local keeps its state in ./.cognito
	cmd.Env = append(os.Environ(), "HOST=127.0.0.1", "PORT="+strconv.Itoa(port), "DEBUG=")
	if opts.Code != "" {
		cmd.Env = append(cmd.Env, "CODE="+opts.Code)
	}
	cmd.Stdout, cmd.Stderr = out, out
	// Its own process group, so Close can signal node and anything it
	// spawns at once.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 2 * time.Second // don't hang on output pipes after a kill
	if err := cmd.Start(); err != nil {
		s.removeTemp()
		return nil, fmt.Errorf("start cognito-local %s: %w", bin, err)
	}
	s.cmd = cmd
	go func() {
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()

	if err := s.waitReady(ctx); err != nil {
		_ = s.Close()
		return nil, err
	}
	s.Client = CognitoClient(s.URL)
	return s, nil
}

// writeCognitoConfig writes cognito-local's own configuration,
// .cognito/config.json under dataDir, on every start: its triggers and the
// Lambda endpoint it invokes them at. Written even without triggers, so a
// data dir kept from a run with triggers does not keep running them.
func writeCognitoConfig(dataDir string, opts CognitoOptions) error {
	cfg := map[string]any{"TriggerFunctions": map[string]string{}}
	if len(opts.Triggers) > 0 {
		cfg["TriggerFunctions"] = opts.Triggers
		cfg["LambdaClient"] = map[string]any{
			"endpoint":    opts.LambdaEndpoint,
			"region":      Region,
			"credentials": map[string]string{"accessKeyId": "standin", "secretAccessKey": "standin"},
		}
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return fmt.Errorf("cognito-local config: %w", err)
	}
	dir := filepath.Join(dataDir, ".cognito")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("cognito-local config: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644); err != nil {
		return fmt.Errorf("cognito-local config: %w", err)
	}
	return nil
}

// cognitoCommand runs cognito-local's server through cognitoLocalStart,
// given its executable (node_modules/.bin/cognito-local, a link to the
// package's lib/bin/start.js).
func cognitoCommand(bin string) (*exec.Cmd, error) {
	start, err := filepath.EvalSymlinks(bin)
	if err != nil {
		return nil, fmt.Errorf("start cognito-local: %w", err)
	}
	pkg := filepath.Dir(filepath.Dir(filepath.Dir(start))) // .../cognito-local/lib/bin/start.js
	if _, err := os.Stat(filepath.Join(pkg, "lib", "server", "index.js")); err != nil {
		return nil, fmt.Errorf("start cognito-local: %s is not cognito-local's lib/bin/start.js: %w", start, err)
	}
	// The package dir is an argument, so the command line names
	// cognito-local (the dev runner finds its process by that).
	return exec.Command("node", "-e", cognitoLocalStart, pkg), nil
}

// waitReady polls cognito-local's /health until it answers 200.
func (s *CognitoServer) waitReady(ctx context.Context) error {
	client := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/health", nil)
		if err != nil {
			return err
		}
		if res, err := client.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, res.Body)
			_ = res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-s.exited:
			return fmt.Errorf("cognito-local exited before answering on %s (port taken?): %v", s.URL, s.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("cognito-local did not answer on %s: %w", s.URL, ctx.Err())
		case <-tick.C:
		}
	}
}

// Close stops cognito-local (SIGTERM to its process group, SIGKILL if it
// lingers) and removes its data dir if it was a temporary one.
func (s *CognitoServer) Close() error {
	s.close.Do(func() {
		if s.cmd != nil && s.cmd.Process != nil {
			StopGroup(s.cmd.Process.Pid, s.exited, 3*time.Second)
		}
		s.removeTemp()
	})
	return nil
}

func (s *CognitoServer) removeTemp() {
	if s.tempDir != "" {
		_ = os.RemoveAll(s.tempDir)
	}
}

// cognitoFreePort returns a port of 127.0.0.1 that was free a moment ago.
func cognitoFreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// CognitoClient returns a Cognito user pools client for the stand-in at
// endpoint.
func CognitoClient(endpoint string) *cip.Client {
	return cip.NewFromConfig(AWSConfig(endpoint))
}

// CognitoPool is a user pool with one app client, as promptq's stack
// creates it: sign-in with an email address that is verified by a code,
// no client secret, USER_PASSWORD_AUTH and refresh tokens allowed.
type CognitoPool struct {
	ID       string
	ClientID string
	// Issuer is the iss of the pool's tokens: the server's URL and the
	// pool id. Its JWKS is at Issuer + "/.well-known/jwks.json".
	Issuer string
}

// Pool returns the user pool called name and its app client (of the same
// name), creating them if they don't exist yet, so a dev runner with a
// persistent data dir keeps its users across restarts.
func (s *CognitoServer) Pool(ctx context.Context, name string) (CognitoPool, error) {
	poolID, err := s.findPool(ctx, name)
	if err != nil {
		return CognitoPool{}, err
	}
	if poolID == "" {
		out, err := s.Client.CreateUserPool(ctx, &cip.CreateUserPoolInput{
			PoolName:           aws.String(name),
			UsernameAttributes: []types.UsernameAttributeType{types.UsernameAttributeTypeEmail},
			// Sign-ups get a confirmation code by "email": cognito-local
			// prints it to its output (CognitoOptions.Stdout).
			AutoVerifiedAttributes: []types.VerifiedAttributeType{types.VerifiedAttributeTypeEmail},
		})
		if err != nil {
			return CognitoPool{}, fmt.Errorf("create user pool %s: %w", name, err)
		}
		poolID = aws.ToString(out.UserPool.Id)
	}
	clientID, err := s.findClient(ctx, poolID, name)
	if err != nil {
		return CognitoPool{}, err
	}
	if clientID == "" {
		out, err := s.Client.CreateUserPoolClient(ctx, &cip.CreateUserPoolClientInput{
			UserPoolId:     aws.String(poolID),
			ClientName:     aws.String(name),
			GenerateSecret: false, // a browser app can't keep a secret
			ExplicitAuthFlows: []types.ExplicitAuthFlowsType{
				types.ExplicitAuthFlowsTypeAllowUserPasswordAuth,
				types.ExplicitAuthFlowsTypeAllowRefreshTokenAuth,
			},
		})
		if err != nil {
			return CognitoPool{}, fmt.Errorf("create app client of pool %s: %w", poolID, err)
		}
		clientID = aws.ToString(out.UserPoolClient.ClientId)
	}
	return CognitoPool{ID: poolID, ClientID: clientID, Issuer: s.URL + "/" + poolID}, nil
}

func (s *CognitoServer) findPool(ctx context.Context, name string) (string, error) {
	p := cip.NewListUserPoolsPaginator(s.Client, &cip.ListUserPoolsInput{MaxResults: aws.Int32(60)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return "", fmt.Errorf("list user pools: %w", err)
		}
		for _, pool := range page.UserPools {
			if aws.ToString(pool.Name) == name {
				return aws.ToString(pool.Id), nil
			}
		}
	}
	return "", nil
}

func (s *CognitoServer) findClient(ctx context.Context, poolID, name string) (string, error) {
	p := cip.NewListUserPoolClientsPaginator(s.Client, &cip.ListUserPoolClientsInput{UserPoolId: aws.String(poolID)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return "", fmt.Errorf("list app clients of pool %s: %w", poolID, err)
		}
		for _, c := range page.UserPoolClients {
			if aws.ToString(c.ClientName) == name {
				return aws.ToString(c.ClientId), nil
			}
		}
	}
	return "", nil
}

// SignUp registers a user with email and password in pool and confirms
// them (AdminConfirmSignUp, so no code is needed). It returns the user's
// sub. The default password policy wants 8+ characters with upper and
// lower case letters, a digit and a symbol.
func (s *CognitoServer) SignUp(ctx context.Context, pool CognitoPool, email, password string) (string, error) {
	out, err := s.Client.SignUp(ctx, &cip.SignUpInput{
		ClientId:       aws.String(pool.ClientID),
		Username:       aws.String(email),
		Password:       aws.String(password),
		UserAttributes: []types.AttributeType{{Name: aws.String("email"), Value: aws.String(email)}},
	})
	if err != nil {
		return "", fmt.Errorf("sign up %s: %w", email, err)
	}
	if _, err := s.Client.AdminConfirmSignUp(ctx, &cip.AdminConfirmSignUpInput{
		UserPoolId: aws.String(pool.ID),
		Username:   aws.String(email),
	}); err != nil {
		return "", fmt.Errorf("confirm %s: %w", email, err)
	}
	return aws.ToString(out.UserSub), nil
}

// CognitoTokens are what a sign-in returns.
type CognitoTokens struct {
	Access  string // for calling promptq's API
	ID      string // for the client to learn who signed in; the API refuses it
	Refresh string // for new access tokens
}

// LogIn signs a confirmed user in with USER_PASSWORD_AUTH.
func (s *CognitoServer) LogIn(ctx context.Context, pool CognitoPool, email, password string) (CognitoTokens, error) {
	out, err := s.Client.InitiateAuth(ctx, &cip.InitiateAuthInput{
		ClientId:       aws.String(pool.ClientID),
		AuthFlow:       types.AuthFlowTypeUserPasswordAuth,
		AuthParameters: map[string]string{"USERNAME": email, "PASSWORD": password},
	})
	if err != nil {
		return CognitoTokens{}, fmt.Errorf("log in %s: %w", email, err)
	}
	r := out.AuthenticationResult
	if r == nil {
		return CognitoTokens{}, fmt.Errorf("log in %s: a challenge (%s) instead of tokens", email, out.ChallengeName)
	}
	return CognitoTokens{
		Access:  aws.ToString(r.AccessToken),
		ID:      aws.ToString(r.IdToken),
		Refresh: aws.ToString(r.RefreshToken),
	}, nil
}

// TestCognito is a cognito-local started for one test, with a user pool and
// app client ready.
type TestCognito struct {
	Endpoint string      // http://127.0.0.1:port
	PoolID   string      // the pool's id
	ClientID string      // its app client
	Issuer   string      // iss of its tokens; the JWKS is at Issuer + "/.well-known/jwks.json"
	Client   *cip.Client // SDK client for the stand-in
	Server   *CognitoServer
	// Out is cognito-local's output (its last 64 KB): sign-up codes
	// appear there.
	Out *Buffer
}

// Pool returns the test's pool.
func (c *TestCognito) Pool() CognitoPool {
	return CognitoPool{ID: c.PoolID, ClientID: c.ClientID, Issuer: c.Issuer}
}

// NewUser signs up, confirms and logs in a new user with a random email
// address and returns their sub and tokens.
func (c *TestCognito) NewUser(t TB) (sub string, tokens CognitoTokens) {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b) // crypto/rand.Read never returns an error
	email := "user-" + hex.EncodeToString(b) + "@example.com"
	const password = "Correct-horse-1"
	sub, err := c.Server.SignUp(t.Context(), c.Pool(), email, password)
	if err != nil {
		t.Fatal(err)
	}
	tokens, err = c.Server.LogIn(t.Context(), c.Pool(), email, password)
	if err != nil {
		t.Fatal(err)
	}
	return sub, tokens
}

// Cognito starts cognito-local for t, with a user pool and app client, and
// stops it when t ends. Each call starts its own process (about a second).
//
// When cognito-local is not installed the test is skipped with a hint to run
// `make tools`, or fails if PROMPTQ_REQUIRE_STANDINS=1 (as `make test` sets):
// a stand-in missing there is a broken build, not a reason to skip.
func Cognito(t TB) *TestCognito {
	t.Helper()
	bin, err := CognitoLocalBinary()
	if err != nil {
		msg := fmt.Sprintf("%v; run `make tools` to install it", err)
		if os.Getenv("PROMPTQ_REQUIRE_STANDINS") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	// Keep its output, and show it only if the test fails.
	out := &Buffer{Max: cognitoLogMax}
	s, err := StartCognito(t.Context(), CognitoOptions{Binary: bin, Stdout: out})
	if err != nil {
		t.Fatalf("%v\ncognito-local output:\n%s", err, out.String())
	}
	t.Cleanup(func() {
		_ = s.Close()
		if t.Failed() {
			t.Logf("cognito-local output:\n%s", out.String())
		}
	})
	pool, err := s.Pool(t.Context(), "promptq-test")
	if err != nil {
		t.Fatal(err)
	}
	return &TestCognito{
		Endpoint: s.URL,
		PoolID:   pool.ID,
		ClientID: pool.ClientID,
		Issuer:   pool.Issuer,
		Client:   s.Client,
		Server:   s,
		Out:      out,
	}
}
