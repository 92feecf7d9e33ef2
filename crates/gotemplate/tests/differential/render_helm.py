"""Renders each line of cases.txt (a template per line, `{{-` lines joined) with Helm's
engine through helm-python-sdk; prints a JSON list of outputs (or "ERROR: msg")."""
import json, os, sys, tempfile
import helm_python as helm

here = os.path.dirname(os.path.abspath(__file__))
cases = json.load(open(sys.argv[1]))
out = []
with tempfile.TemporaryDirectory() as d:
    os.makedirs(os.path.join(d, "templates"))
    open(os.path.join(d, "Chart.yaml"), "w").write("apiVersion: v2\nname: diff\nversion: 0.1.0\n")
    open(os.path.join(d, "values.yaml"), "w").write(open(os.path.join(here, "values.yaml")).read())
    for i, c in enumerate(cases):
        open(os.path.join(d, "templates", "case%03d.txt" % i), "w").write(c)
    chart = helm.Chart.load(d)
    try:
        r = chart.render(name="rel")
        out = [r.get("diff/templates/case%03d.txt" % i, "") for i in range(len(cases))]
    except Exception as e:
        # One failing template fails the render: retry one by one.
        for i, c in enumerate(cases):
            for j in range(len(cases)):
                p = os.path.join(d, "templates", "case%03d.txt" % j)
                open(p, "w").write(c if j == i else "")
            try:
                out.append(helm.Chart.load(d).render(name="rel")["diff/templates/case%03d.txt" % i])
            except Exception as e2:
                out.append("ERROR: " + str(e2))
print(json.dumps(out))
