"""The API's JSON shapes: request bodies (``requests``) and the public answers (``responses``)."""
