"""Use cases that span domains, one function each, called alike by the API and the console.

A function here reads and checks in a short transaction, asks the outside world (a key
service) with no transaction open, then writes in one transaction that checks again. It takes
its units of work as a parameter (`Units`), so the edges differ only in how they read input
and render output.
"""
