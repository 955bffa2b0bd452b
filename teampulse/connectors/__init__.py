"""Discussion platforms and Caliper -> canonical events (pure: values in, values out).

One module per platform maps its documented payload to canonical event dicts, or says why a
delivery is ignored or refused; `config` holds what they share (the connectors.yaml file:
which channel belongs to which team or initiative), `canonical` the shape of the results.
"""
