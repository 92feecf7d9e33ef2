"""Renders charts with Helm's own engine (helm-python-sdk). Input: a JSON list of
{"chart": dir, "values": {...}}; output: a JSON list of {template path: text} maps,
or {"ERROR": message}."""
import json, sys
import helm_python as helm

out = []
for case in json.load(open(sys.argv[1])):
    try:
        chart = helm.Chart.load(case["chart"])
        out.append(chart.render(case["values"], name="my-release", namespace="web", is_install=True, revision=1))
    except Exception as e:
        out.append({"ERROR": str(e)})
print(json.dumps(out))
