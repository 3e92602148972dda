package clock

import (
	"context"
	"errors"
	"testing"
	"time"
)

// manual is a clock that moves only when told.
type manual struct {
	now   time.Time
	fires chan time.Time
}

func (m *manual) Now() time.Time { return m.now }
func (m *manual) After(time.Duration) <-chan time.Time {
	return m.fires
}

func TestWithTimeoutEndsWhenTheInjectedClockFires(t *testing.T) {
	m := &manual{now: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC), fires: make(chan time.Time, 1)}
	cause := errors.New("no answer within --timeout")
	ctx, cancel := WithTimeoutCause(context.Background(), m, time.Hour, cause)
	defer cancel()
	select {
	case <-ctx.Done():
		t.Fatal("the context ended before the clock fired")
	default:
	}
	m.fires <- m.now.Add(time.Hour)
	<-ctx.Done()
	if !errors.Is(context.Cause(ctx), cause) {
		t.Errorf("cause = %v, want %v", context.Cause(ctx), cause)
	}
}

func TestWithTimeoutCancelStopsTheWait(t *testing.T) {
	m := &manual{fires: make(chan time.Time)}
	ctx, cancel := WithTimeout(context.Background(), m, time.Hour)
	cancel()
	<-ctx.Done()
	if !errors.Is(context.Cause(ctx), context.Canceled) {
		t.Errorf("cause after cancel = %v, want context.Canceled", context.Cause(ctx))
	}
}

func TestOrAndFunc(t *testing.T) {
	if _, ok := Or(nil).(Real); !ok {
		t.Error("Or(nil) is not the real clock")
	}
	at := time.Date(2026, 3, 29, 1, 30, 0, 0, time.UTC)
	if got := Func(func() time.Time { return at }).Now(); !got.Equal(at) {
		t.Errorf("Func(f).Now() = %v, want %v", got, at)
	}
}
