"""Sense analyses of Backpack models: what adaptation did to the senses.

Word alignment (`alignment`), one batched pass that pools senses per aligned word (`features`), and the
statistics over it: sense topology (`topology`), Procrustes (`procrustes`), a critic-based mutual
information estimate (`mutual_information`), sense collapse cross-entropies (`collapse`), sense reading
through the output embedding (`inspection`), plots (`plots`) and the output folder rules (`outputs`).
"""
