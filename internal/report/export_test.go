package report

// NiceScale is niceScale, for the tests.
var NiceScale = niceScale
