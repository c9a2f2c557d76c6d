"""Shaping the services' results as the API's JSON: camelCase, money and quantities as strings.

One module per area (``auto_invest``, ``rebalancing``, ``triggers``, ``platform``, ``logs``,
``results``), the shared formatting in ``common``.
"""
