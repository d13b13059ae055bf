"""Promotion and the champion: validate, register, move the alias, write configs/, roll back.

    from unisim.registry.promote import promote, promote_run   # validate -> plan -> execute
    from unisim.registry.rollback import rollback              # the same plan, backwards
    from unisim.registry.models import list_models, show_model # what the registry holds

Every change to the registry, production configs, run tags and metadata.json is a
``Plan`` (plan.py): steps that register their undo first, done under one lock.
"""
