//go:build race

package storage

// raceDetector is set when the tests run with -race: the month-long size
// measurement then skips (the race detector makes its 43,200 transactions
// minutes long and tells nothing about its figure).
const raceDetector = true
