package cli

import (
	"time"
)

type simulateCmd struct {
	Instances int           `env:"LEADERGATE_INSTANCES" default:"5" help:"Instances in the simulated group."`
	Others    int           `env:"LEADERGATE_OTHERS" default:"2" help:"Instances of another group in the same region (never counted or tagged)."`
	Chaos     int           `env:"LEADERGATE_CHAOS" placeholder:"ROUNDS" help:"Play this many rounds mixing leader kills, stop/start, launches, immutable deploys and faults."`
	Seed      uint64        `env:"LEADERGATE_SEED" default:"1" help:"Seed for --chaos."`
	Lag       time.Duration `env:"LEADERGATE_LAG" help:"Eventual consistency: a terminated instance looks running this long; rounds are this far apart (emulated time, no real wait)."`
}
