def apply_variant(app, variant):
    from flask import Flask
    if "sync" in variant:
        orig = Flask.ensure_sync
        cache = {}
        def ensure(func):
            try:
                return cache[func]
            except KeyError:
                out = cache[func] = orig(app, func)
                return out
        app.ensure_sync = ensure
