package ledger

import (
	"context"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/leadergate/leadergate/internal/clock/clocktest"
)

// TestAFailedRunKeepsTheEndOfItsOutput: history shows a failed run's last
// MaxTail bytes of output, cut where a character starts, on every store; a
// run that succeeds keeps none, so its finish stays one write unit.
func TestAFailedRunKeepsTheEndOfItsOutput(t *testing.T) {
	stores := map[string]func(t *testing.T, c *clocktest.Manual) Store{
		"memory": func(*testing.T, *clocktest.Manual) Store { return &Memory{} },
		"moto_server": func(t *testing.T, c *clocktest.Manual) Store {
			return startMoto(t).table(t, c.Now)
		},
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			c := clocktest.New(tick.Add(time.Second))
			store := open(t, c)
			l := newLedgers(store, c, "i-a")[0]
			ctx := context.Background()
			// 5,000 bytes of two-byte characters, then the line that says
			// what went wrong.
			out := []byte(strings.Repeat("é", 2500) + "\nerror: the bank said no\n")

			failed, err := l.Claim(ctx, key(), ClaimOptions{})
			if err != nil || failed.Outcome != Won {
				t.Fatal(failed, err)
			}
			failed.Run.SetTail(out)
			if err := failed.Run.Finish(ctx, 2); err != nil {
				t.Fatal(err)
			}
			ok := key()
			ok.Tick = tick.Add(time.Minute)
			c.Set(ok.Tick.Add(time.Second))
			succeeded, err := l.Claim(ctx, ok, ClaimOptions{})
			if err != nil || succeeded.Outcome != Won {
				t.Fatal(succeeded, err)
			}
			succeeded.Run.SetTail([]byte("all fine\n"))
			if err := succeeded.Run.Finish(ctx, 0); err != nil {
				t.Fatal(err)
			}

			recs, err := store.Recent(ctx, "e-abc123", "billing", tick.Add(-time.Hour), 10)
			if err != nil || len(recs) != 2 {
				t.Fatalf("Recent = %d records, %v", len(recs), err)
			}
			for _, r := range recs {
				switch r.State {
				case Failed:
					t.Logf("a failed run's item with its tail: %d bytes", itemSize(toItem(r)))
					if !strings.HasSuffix(r.Tail, "\nerror: the bank said no\n") || len(r.Tail) > MaxTail || len(r.Tail) < MaxTail-1 || !utf8.ValidString(r.Tail) {
						t.Errorf("the failed run's tail is %d bytes (valid UTF-8: %v), ending %q; want the last %d bytes of its output, whole characters",
							len(r.Tail), utf8.ValidString(r.Tail), r.Tail[max(0, len(r.Tail)-30):], MaxTail)
					}
				case Succeeded:
					if r.Tail != "" {
						t.Errorf("the successful run kept output %q", r.Tail)
					}
					size := itemSize(toItem(r))
					t.Logf("a successful run's item: %d bytes", size)
					if size > 1024 {
						t.Errorf("the successful run's item is %d bytes: its finish costs more than one write unit", size)
					}
				default:
					t.Errorf("unexpected record %+v", r)
				}
			}
		})
	}
}

// itemSize is DynamoDB's size of an item as its documentation counts it:
// each attribute's name plus its value (a string's UTF-8 bytes, a number's
// digits halved plus one), a bound good enough for "one write unit or not".
func itemSize(it map[string]types.AttributeValue) int {
	size := 0
	for name, v := range it {
		size += len(name)
		switch v := v.(type) {
		case *types.AttributeValueMemberS:
			size += len(v.Value)
		case *types.AttributeValueMemberN:
			size += (len(v.Value)+1)/2 + 1
		default:
			size += 8
		}
	}
	return size
}
