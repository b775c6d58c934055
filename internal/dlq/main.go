package dlq

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"

	"github.com/promptq/promptq/internal/dev/devstack/devinfo"
	"github.com/promptq/promptq/internal/jobs"
)

// Exit codes of the command.
const (
	ExitOK      = 0 // done
	ExitFailure = 1 // something failed (AWS, the table, a stack that cannot be read); see the log
	ExitUsage   = 2 // bad flags or arguments; purge without --yes when stdin is not a terminal
	ExitNothing = 3 // nothing to do: the queue is empty, nothing matched, no such message, purge declined
)

// Env is what the command gets from its process.
type Env struct {
	Getenv        func(string) string
	Stdin         io.Reader
	StdinTerminal bool // purge asks for confirmation only on a terminal
	Stdout        io.Writer
	Stderr        io.Writer // the log
	// LoadAWSConfig loads the SDK configuration for --stack; region may be
	// empty (the environment's or profile's then). Default: the SDK's
	// config.LoadDefaultConfig.
	LoadAWSConfig func(ctx context.Context, region string) (aws.Config, error)
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Tune adjusts the tool's Config before it is built (tests shorten
	// its timings).
	Tune func(*Config)
}

const usage = `Usage: dlq [target flags] COMMAND [flags]

Looks after promptq's dead-letter queue: the jobs the worker gave up on.

Commands:
  list                  how many messages wait, and each one's job id, owner,
                        age, the job's attempts (how many times a worker started
                        it), job status and recorded failure
  show JOB_ID           the job's message and the job side by side
  replay                set jobs back to queued and move their messages to the
                        jobs queue (the worker runs them again)
  purge                 delete messages and fail their jobs for good (asks first);
                        a job a worker is running now (after an interrupted
                        replay) is left to finish, and only its dead letter,
                        a stale copy, is deleted

Target (before or after the command):
  --dev PATH            the dev stack's dev.json (default: $PROMPTQ_DEV_DIR/dev.json,
                        else .local/dev.json); the default target
  --stack NAME          a deployed stack: the queue URLs and table come from its
                        CloudFormation outputs (AWS credentials as usual)
  --region REGION       the stack's region (default: AWS_REGION or the profile's)

list:    --json  --max N (default 1000; 0: all)
show:    --json  --owner SUB (read the job even if the queue has no message for it)
replay:  --job ID (repeatable)  --older-than DURATION  --reason TEXT  --max N
         --dry-run  --bulk (SQS's own move task for every message; no filters)
purge:   --job ID (repeatable)  --older-than DURATION  --reason TEXT  --max N
         --dry-run  --yes (no confirmation; required when stdin is not a terminal)
         --json (with --yes: print what became of each job as JSON)

list --json also has receive_count, SQS's ApproximateReceiveCount: every
receive counts, this tool's own looks (list, show, dry runs) included, so it
grows as people look; the attempts column does not.

Filters combine with AND. --older-than counts from when the job's message was
first sent (e.g. 2h, 30m); --reason matches the job's failure ("code: message",
or job_not_found / invalid_message) ignoring case.

Exit codes:
  0  done
  1  failed (see the log on stderr); whatever was done is logged
  2  usage; also purge without --yes when stdin is not a terminal
  3  nothing to do: the queue is empty (list), no message for that job (show),
     nothing matched, or purge was not confirmed

Examples:
  go run ./scripts/dlq list
  go run ./scripts/dlq --stack Promptq --region us-east-1 list --json
  go run ./scripts/dlq replay --reason throttl --dry-run
  go run ./scripts/dlq purge --reason job_not_found
`

// jobIDs is the repeatable --job flag.
type jobIDs []string

func (j *jobIDs) String() string { return strings.Join(*j, ",") }

func (j *jobIDs) Set(v string) error {
	if !jobs.ValidID(v) {
		return fmt.Errorf("%q is not a job id", v)
	}
	*j = append(*j, v)
	return nil
}

type options struct {
	dev, stack, region string

	json, dryRun, bulk, yes bool
	owner                   string
	filter                  Filter
	jobs                    jobIDs
	max                     int
}

func (o *options) targetFlags(fs *flag.FlagSet) {
	// The current values are the defaults, so the command's flag set
	// keeps what the global one parsed.
	fs.StringVar(&o.dev, "dev", o.dev, "the dev stack's dev.json `path`")
	fs.StringVar(&o.stack, "stack", o.stack, "a deployed stack's `name`")
	fs.StringVar(&o.region, "region", o.region, "the stack's `region`")
}

func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	return fs
}

// commandFlags are the flags of cmd, the target flags included.
func (o *options) commandFlags(cmd string, stderr io.Writer) (*flag.FlagSet, bool) {
	fs := newFlagSet("dlq "+cmd, stderr)
	o.targetFlags(fs)
	filters := func() {
		fs.Var(&o.jobs, "job", "only the message of this job `id` (repeatable)")
		fs.DurationVar(&o.filter.OlderThan, "older-than", 0, "only messages first sent more than this `duration` ago")
		fs.StringVar(&o.filter.Reason, "reason", "", "only messages whose job's failure contains this `text`")
		fs.IntVar(&o.max, "max", 0, "act on at most `n` messages (0: all)")
		fs.BoolVar(&o.dryRun, "dry-run", false, "print what would be done; change nothing")
	}
	switch cmd {
	case "list":
		fs.BoolVar(&o.json, "json", false, "print JSON")
		fs.IntVar(&o.max, "max", 1000, "list at most `n` messages (0: all)")
	case "show":
		fs.BoolVar(&o.json, "json", false, "print JSON")
		fs.StringVar(&o.owner, "owner", "", "the job owner's `sub`, to read a job with no message in the queue")
	case "replay":
		filters()
		fs.BoolVar(&o.bulk, "bulk", false, "move every message with SQS's own message move task")
	case "purge":
		filters()
		fs.BoolVar(&o.yes, "yes", false, "purge without asking")
		fs.BoolVar(&o.json, "json", false, "with --yes: print the summary and each job's outcome as JSON")
	default:
		return nil, false
	}
	return fs, true
}

// parseInterspersed parses fs over args, allowing flags after positional
// arguments, and returns the positional ones.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// errUsage marks an error as the caller's (exit 2).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usageErr(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// Main runs the command with args (without the program name) and returns
// its exit code. ctx ends on Ctrl-C.
func Main(ctx context.Context, args []string, env Env) int {
	if env.Now == nil {
		env.Now = time.Now
	}
	if env.Getenv == nil {
		env.Getenv = func(string) string { return "" }
	}
	var o options
	global := newFlagSet("dlq", env.Stderr)
	o.targetFlags(global)
	if err := global.Parse(args); err != nil {
		return helpOrUsage(err)
	}
	if global.NArg() == 0 {
		fmt.Fprint(env.Stderr, usage)
		return ExitUsage
	}
	cmd := global.Arg(0)
	fs, ok := o.commandFlags(cmd, env.Stderr)
	if !ok {
		fmt.Fprintf(env.Stderr, "dlq: unknown command %q\nRun dlq --help for usage.\n", cmd)
		return ExitUsage
	}
	pos, err := parseInterspersed(fs, global.Args()[1:])
	if err != nil {
		return helpOrUsage(err)
	}
	o.filter.JobIDs, o.filter.Max = o.jobs, o.max
	if err := o.check(cmd, pos); err != nil {
		fmt.Fprintf(env.Stderr, "dlq: %v\nRun dlq --help for usage.\n", err)
		return ExitUsage
	}
	if cmd == "purge" && !o.yes && !o.dryRun && !env.StdinTerminal {
		// Refused before anything is read: a script must say --yes.
		fmt.Fprintln(env.Stderr, "dlq: purge asks for confirmation on a terminal, and stdin is not one. Pass --yes to purge without asking (or --dry-run to look).")
		return ExitUsage
	}

	log := slog.New(slog.NewTextHandler(env.Stderr, nil))
	tool, target, err := o.build(ctx, env, log)
	var ue *usageError
	switch {
	case errors.As(err, &ue):
		fmt.Fprintf(env.Stderr, "dlq: %v\nRun dlq --help for usage.\n", err)
		return ExitUsage
	case err != nil:
		log.Error("cannot reach the dead-letter queue", "error", err)
		return ExitFailure
	}
	log.Info("target", "name", target.Name, "dlq", target.DLQURL, "interactive_queue", target.QueueURLs[jobs.LaneInteractive],
		"bulk_queue", target.QueueURLs[jobs.LaneBulk], "table", target.Table)

	switch cmd {
	case "list":
		return o.list(ctx, tool, env, log)
	case "show":
		return o.show(ctx, tool, pos[0], env, log)
	case "replay":
		return o.replay(ctx, tool, env, log)
	default:
		return o.purge(ctx, tool, env, log)
	}
}

func helpOrUsage(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	return ExitUsage // the flag package has said what
}

// check validates the combination of flags and arguments.
func (o *options) check(cmd string, pos []string) error {
	switch {
	case o.dev != "" && o.stack != "":
		return errors.New("--dev and --stack name two targets; give one")
	case o.region != "" && o.stack == "":
		return errors.New("--region goes with --stack (the dev stack's region is in dev.json)")
	case o.max < 0:
		return errors.New("--max must not be negative")
	case o.filter.OlderThan < 0:
		return errors.New("--older-than must not be negative")
	case o.bulk && (!o.filter.Empty() || o.max > 0):
		return ErrBulkWithFilter
	}
	if cmd == "show" {
		switch {
		case len(pos) != 1:
			return fmt.Errorf("show takes one job id (got %d)", len(pos))
		case !jobs.ValidID(pos[0]):
			return fmt.Errorf("%q is not a job id: a job id is a UUID such as 0193c5a2-7b1e-7c3d-9f4a-5b6c7d8e9f01", pos[0])
		}
		return nil
	}
	if cmd == "purge" && o.json && (!o.yes || o.dryRun) {
		return errors.New("purge --json goes with --yes and without --dry-run (it prints what was done, for scripts)")
	}
	if len(pos) > 0 {
		return fmt.Errorf("%s takes no arguments (got %q)", cmd, strings.Join(pos, " "))
	}
	return nil
}

// build resolves the target and builds the tool on it.
func (o *options) build(ctx context.Context, env Env, log *slog.Logger) (*Tool, Target, error) {
	cfg := Config{Logger: log, Out: env.Stdout, Now: env.Now}
	if o.json {
		cfg.Out = io.Discard // the JSON document is the output
	}
	if env.Tune != nil {
		env.Tune(&cfg)
	}
	if o.stack == "" {
		path := o.dev
		if path == "" {
			path = devinfo.Path(devinfo.Dir(env.Getenv))
		}
		t, err := DevTarget(path)
		if err != nil {
			if o.dev == "" {
				err = fmt.Errorf("%w (for a deployed stack, give --stack NAME)", err)
			}
			return nil, Target{}, err
		}
		tool, err := t.tool(devConfig(t), cfg)
		return tool, t, err
	}
	load := env.LoadAWSConfig
	if load == nil {
		load = func(ctx context.Context, region string) (aws.Config, error) {
			var opts []func(*config.LoadOptions) error
			if region != "" {
				opts = append(opts, config.WithRegion(region))
			}
			return config.LoadDefaultConfig(ctx, opts...)
		}
	}
	awsCfg, err := load(ctx, o.region)
	if err != nil {
		return nil, Target{}, fmt.Errorf("AWS configuration: %w", err)
	}
	if awsCfg.Region == "" {
		return nil, Target{}, usageErr("--stack needs a region: --region, AWS_REGION or a profile's region")
	}
	t, err := StackTarget(ctx, cloudformation.NewFromConfig(awsCfg), o.stack, awsCfg.Region)
	if err != nil {
		return nil, Target{}, err
	}
	tool, err := t.tool(awsCfg, cfg)
	return tool, t, err
}

func (o *options) list(ctx context.Context, tool *Tool, env Env, log *slog.Logger) int {
	l, err := tool.List(ctx, o.max)
	if err != nil && l.Queue == "" {
		log.Error("list failed", "error", err)
		return ExitFailure
	}
	var werr error
	if o.json {
		werr = l.WriteJSON(env.Stdout)
	} else {
		werr = l.WriteText(env.Stdout, env.Now())
	}
	switch {
	case err != nil || werr != nil:
		log.Error("list incomplete", "error", errors.Join(err, werr))
		return ExitFailure
	case l.Visible+l.InFlight == 0 && l.Listed == 0:
		return ExitNothing
	}
	return ExitOK
}

func (o *options) show(ctx context.Context, tool *Tool, id string, env Env, log *slog.Logger) int {
	s, err := tool.Show(ctx, id, o.owner)
	if err != nil {
		log.Error("show failed", "job_id", id, "error", err)
		return ExitFailure
	}
	if o.json {
		err = s.WriteJSON(env.Stdout)
	} else {
		err = s.WriteText(env.Stdout, env.Now())
	}
	switch {
	case err != nil:
		log.Error("show failed", "error", err)
		return ExitFailure
	case s.Message == nil:
		return ExitNothing
	}
	return ExitOK
}

func (o *options) replay(ctx context.Context, tool *Tool, env Env, log *slog.Logger) int {
	s, err := tool.Replay(ctx, ReplayOptions{Filter: o.filter, DryRun: o.dryRun, Bulk: o.bulk})
	verb := "replay"
	if s.DryRun {
		verb = "replay (dry run: nothing changed)"
	}
	fmt.Fprintf(env.Stdout, "%s: %d matched, %d %s, %d %s, %d skipped\n", verb, s.Matched,
		s.Replayed, pick(s.DryRun, "would be replayed", "replayed"),
		s.Removed, pick(s.DryRun, "would be removed (job already ended)", "removed (job already ended)"), s.Skipped)
	if err != nil {
		log.Error("replay failed; run it again to finish (nothing is lost: see the README's Operators section)", "error", err)
		return ExitFailure
	}
	if !s.Acted() {
		return ExitNothing
	}
	return ExitOK
}

func (o *options) purge(ctx context.Context, tool *Tool, env Env, log *slog.Logger) int {
	po := PurgeOptions{Filter: o.filter}
	if !o.yes || o.dryRun {
		entries, err := tool.Preview(ctx, o.filter)
		if err != nil {
			log.Error("purge: could not list what to purge", "error", err)
			return ExitFailure
		}
		now := env.Now()
		running := 0
		for _, e := range entries {
			fmt.Fprintf(env.Stdout, "%s %s (status %s, %s)", pick(o.dryRun, "would purge", "purge"), label(e), e.Status, orNone(e.Reason))
			if runningNow(e, now) {
				running++
				fmt.Fprintf(env.Stdout, "; a worker is running it now (lease until %s): the job %s left to finish, only its dead letter deleted",
					e.LeaseUntil.Format(time.RFC3339), pick(o.dryRun, "would be", "is"))
			}
			fmt.Fprintln(env.Stdout)
		}
		if len(entries) == 0 {
			fmt.Fprintln(env.Stdout, "purge: no message matched; nothing to do")
			return ExitNothing
		}
		if o.dryRun {
			fmt.Fprintf(env.Stdout, "purge (dry run: nothing changed): %d would be purged\n", len(entries))
			return ExitOK
		}
		fmt.Fprintf(env.Stderr, "Purge these %d messages? Their jobs fail for good (%s) and will not run again", len(entries), jobs.FailurePurged)
		if running > 0 {
			fmt.Fprintf(env.Stderr, ", except the %d a worker is running now, which are left to finish", running)
		}
		fmt.Fprint(env.Stderr, ".\nType yes to purge: ")
		answer, _ := bufio.NewReader(env.Stdin).ReadString('\n')
		if strings.TrimSpace(strings.ToLower(answer)) != "yes" {
			fmt.Fprintln(env.Stdout, "purge: not confirmed; nothing purged")
			log.Info("purge not confirmed")
			return ExitNothing
		}
		po.Only = map[string]bool{}
		for _, e := range entries {
			po.Only[e.MessageID] = true
		}
	}
	s, err := tool.Purge(ctx, po)
	if o.json {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		if werr := enc.Encode(s); werr != nil {
			err = errors.Join(err, werr)
		}
	} else if s.LeftRunning > 0 {
		fmt.Fprintf(env.Stdout, "purge: %d purged, %d left running (a worker is running the job: it is left to finish, only its dead letter was deleted)\n", s.Purged, s.LeftRunning)
	} else {
		fmt.Fprintf(env.Stdout, "purge: %d purged\n", s.Purged)
	}
	if err != nil {
		log.Error("purge failed; run it again to finish", "error", err)
		return ExitFailure
	}
	if s.Purged == 0 {
		return ExitNothing
	}
	return ExitOK
}

func pick(cond bool, yes, no string) string {
	if cond {
		return yes
	}
	return no
}
