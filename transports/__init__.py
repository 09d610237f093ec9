"""Byte movers behind two small Protocols (:mod:`.base`): HTTP and websocket."""
