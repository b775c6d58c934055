// Package jobevents is the jobevents Lambda's configuration, read from
// the environment once and validated ([FromEnv]), and its wiring ([New]):
// an internal/jobevents.Handler announcing on the EventBridge bus.
package jobevents

import (
	"context"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/service/eventbridge"

	"github.com/promptq/promptq/internal/envvar"
	"github.com/promptq/promptq/internal/eventbus"
	"github.com/promptq/promptq/internal/jobevents"
)

// Config is the jobevents Lambda's configuration, read once from the
// environment by [FromEnv].
type Config struct {
	// EventBus is the bus the jobs that end are announced on: its name or
	// ARN. PROMPTQ_EVENT_BUS, required.
	EventBus string
}

// FromEnv reads the configuration with getenv (os.Getenv in main) and
// validates it.
func FromEnv(getenv func(string) string) (Config, error) {
	var c Config
	r := envvar.New(getenv)
	r.Required("PROMPTQ_EVENT_BUS", &c.EventBus)
	return c, r.Err()
}

// Clients are the AWS clients the function uses. The caller builds them.
type Clients struct {
	EventBridge *eventbridge.Client
}

// New builds the handler cfg describes.
func New(_ context.Context, cfg Config, c Clients, logger *slog.Logger) (*jobevents.Handler, error) {
	bus, err := eventbus.New(c.EventBridge, eventbus.Options{Bus: cfg.EventBus, Source: jobevents.Source})
	if err != nil {
		return nil, err
	}
	return jobevents.New(bus, jobevents.Options{Logger: logger}), nil
}
