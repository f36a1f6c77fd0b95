//go:build !race

package storage

// raceDetector: see pricehistory_race_test.go.
const raceDetector = false
