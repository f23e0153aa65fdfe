"""One module per Placement resource. A handler is a plain function from an
``ApiRequest`` to a response; it checks policy first, reads and validates its
input, calls the store and serializes domain objects into Placement's JSON.
"""
