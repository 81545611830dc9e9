"""From-scratch reference implementations, one module per idea, each tested against the frameworks.

Import the module you need: ``from course_lib.scratch.autograd import Value``.
"""
