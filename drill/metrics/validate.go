package metrics

import "github.com/prometheus/prometheus/promql/parser"

// CheckQuery reports a PromQL expression Query could not parse, so a
// scenario is refused when it is read rather than when it is verified.
func CheckQuery(expr string) error {
	_, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	return err
}

// CheckSelector reports a series selector Delta could not parse.
func CheckSelector(selector string) error {
	_, err := parser.NewParser(parser.Options{}).ParseMetricSelector(selector)
	return err
}
