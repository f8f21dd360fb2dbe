"""Hand-made English-Swahili cases for the corpus tests."""
from __future__ import annotations

# Each side is labelled en / sw by langid (and py3langid 0.3, which agrees); 7-10 words, so they pass
# min_len 3 and ratio 0.45-2.0.
GOOD = [
    ("The children are playing in the garden with their friends.",
     "Watoto wanacheza bustanini pamoja na marafiki zao."),
    ("We need to buy more food for the family this week.",
     "Tunahitaji kununua chakula zaidi kwa ajili ya familia wiki hii."),
    ("The teacher explained the lesson clearly to all the students.",
     "Mwalimu alieleza somo vizuri kwa wanafunzi wote."),
    ("The doctor said that the patient will go home tomorrow.",
     "Daktari alisema kuwa mgonjwa atarudi nyumbani kesho."),
    ("The farmers are waiting for the rain to plant maize.", "Wakulima wanasubiri mvua ili wapande mahindi."),
    ("My brother works at the hospital in the city.", "Kaka yangu anafanya kazi katika hospitali ya mji."),
    ("The water in the river is very clean this year.", "Maji ya mto ni safi sana mwaka huu."),
    ("Our village has a new school and a small clinic.", "Kijiji chetu kina shule mpya na zahanati ndogo."),
    ("The market opens early every morning except on Sunday.",
     "Soko hufunguliwa mapema kila asubuhi isipokuwa Jumapili."),
]
# Moses rules rewrite curly quotes and collapse double spaces.
NEEDS_NORMALISING = ("She said “we will travel to Mombasa  next month” with joy.",
                     "Alisema “tutasafiri kwenda Mombasa mwezi ujao” kwa furaha.")
NORMALISED = ('She said "we will travel to Mombasa next month" with joy.',
              'Alisema "tutasafiri kwenda Mombasa mwezi ujao" kwa furaha.')
TOO_SHORT = ("Thank you.", "Asante sana.")  # 2 words < min_len 3
TOO_LONG = (" ".join(["The long road goes on and on."] * 40), " ".join(["Barabara ndefu inaendelea."] * 60))
BAD_RATIO = ("The farmers are waiting.",  # 4 words against 11: ratio 0.36 < 0.45
             "Wakulima wanasubiri mvua ili wapande mahindi na maharage katika mashamba yao makubwa.")
WRONG_TGT = ("The children are playing in the garden with their friends today.",
             "Les enfants jouent dans le jardin avec leurs amis.")
WRONG_SRC = ("Die Kinder spielen mit ihren Freunden im Garten.", "Watoto wanacheza bustanini pamoja na marafiki zao leo.")
