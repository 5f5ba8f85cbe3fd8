"""Support tickets: the example motion_pg application.

New tickets get a predicted category, a confidence and an embedding inside the INSERT's transaction;
when an agent corrects a ticket's category, the fit worker teaches the classifier with it.
"""
