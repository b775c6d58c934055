package inmem

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/promptq/promptq/internal/jobs"
	"github.com/promptq/promptq/internal/quota"
)

// Capacity is the models' seats in memory, with the method set and the
// semantics of internal/dynamo.Capacity (both pass
// storetest.RunCapacity). Safe for concurrent use.
type Capacity struct {
	now func() time.Time

	mu    sync.Mutex
	seats map[string]map[int]quota.Seat // model → index → seat
}

// NewCapacity returns models with no seat held. now may be nil
// (time.Now).
func NewCapacity(now func() time.Time) *Capacity {
	if now == nil {
		now = time.Now
	}
	return &Capacity{now: now, seats: map[string]map[int]quota.Seat{}}
}

// Seats returns model's seats 0 to n-1.
func (c *Capacity) Seats(_ context.Context, model string, n int) ([]quota.Seat, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]quota.Seat, n)
	for i := range out {
		out[i] = c.seat(model, i)
	}
	return out, nil
}

func (c *Capacity) seat(model string, i int) quota.Seat {
	if s, ok := c.seats[model][i]; ok {
		return s
	}
	return quota.Seat{Index: i}
}

func (c *Capacity) put(model string, s quota.Seat) {
	if c.seats[model] == nil {
		c.seats[model] = map[int]quota.Seat{}
	}
	s.Version++
	c.seats[model][s.Index] = s
}

// Take has h take seat s of model if it is still as read.
func (c *Capacity) Take(_ context.Context, model string, s quota.Seat, h quota.Holder) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	cur := c.seat(model, s.Index)
	if cur.Version != s.Version {
		return fmt.Errorf("take seat %d of %s for job %s: %w", s.Index, model, h.Job, jobs.ErrConflict)
	}
	h.Lane = h.Lane.OrDefault()
	h.Until, h.Since = ms(h.Until), ms(h.Since)
	c.put(model, quota.Seat{Index: s.Index, Holder: h, Version: cur.Version})
	return nil
}

// AskBack asks the seat s of model back for job if it is still as read.
func (c *Capacity) AskBack(_ context.Context, model string, s quota.Seat, job string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	cur := c.seat(model, s.Index)
	if cur.Version != s.Version {
		return fmt.Errorf("ask seat %d of %s back for job %s: %w", s.Index, model, job, jobs.ErrConflict)
	}
	cur.AskedBack, cur.For, cur.ReservedUntil = true, job, time.Time{}
	c.put(model, cur)
	return nil
}

// Renew extends the lease of the seat job holds.
func (c *Capacity) Renew(_ context.Context, model string, index int, job string, until time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	cur := c.seat(model, index)
	if cur.Job != job {
		return fmt.Errorf("renew seat %d of %s for job %s: %w", index, model, job, jobs.ErrConflict)
	}
	cur.Until = ms(until)
	c.put(model, cur)
	return nil
}

// Release gives back the seat job holds, reserved for whoever asked it
// back.
func (c *Capacity) Release(_ context.Context, model string, index int, job string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	cur := c.seat(model, index)
	if cur.Job != job {
		return fmt.Errorf("give back seat %d of %s for job %s: %w", index, model, job, jobs.ErrConflict)
	}
	c.put(model, quota.Seat{Index: index, For: cur.For, ReservedUntil: ms(c.now().Add(quota.SeatReserve)), Version: cur.Version})
	return nil
}

// AskedBack reports whether the seat job holds was asked back.
func (c *Capacity) AskedBack(_ context.Context, model string, index int, job string) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cur := c.seat(model, index)
	return cur.Job == job && cur.AskedBack, nil
}

// ms is t to the millisecond, in UTC, as the table keeps it.
func ms(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return time.UnixMilli(t.UnixMilli()).UTC()
}
