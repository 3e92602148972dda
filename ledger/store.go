package ledger

import (
	"context"
	"errors"
	"time"
)

// Store is the ledger's storage: one item per run, single-item conditional
// writes only, never a delete. It is strictly for use by [Ledger]; [DynamoDB]
// and [Memory] implement it.
type Store interface {
	// Get reads a record with a consistent read.
	Get(ctx context.Context, k Key) (r Record, found bool, err error)
	// Create writes r only if no record has its key; else it returns a
	// *Conflict (its Holder is nil when the store did not say who holds it).
	Create(ctx context.Context, r Record) error
	// Swap replaces the record of r's key only if it is still owned by
	// prev.Owner, with prev.Fence, in prev.State; else a *Conflict.
	Swap(ctx context.Context, prev, r Record) error
	// Recent lists the records of a group (and of one job, when job is not
	// empty) whose tick is at or after since, newest first, at most limit.
	Recent(ctx context.Context, group, job string, since time.Time, limit int) ([]Record, error)
}

// Conflict is a conditional write refused: someone else holds the record.
type Conflict struct {
	Key    Key
	Holder *Record // nil when the store did not return the item
}

func (c *Conflict) Error() string {
	if c.Holder == nil {
		return "ledger: " + c.Key.String() + " is held by another instance"
	}
	return "ledger: " + c.Key.String() + " is held by " + c.Holder.Owner + " (" + string(c.Holder.State) + ")"
}

// IsConflict reports whether err is a refused conditional write.
func IsConflict(err error) bool {
	var c *Conflict
	return errors.As(err, &c)
}
