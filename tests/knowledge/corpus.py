"""A small retrieval corpus: 30 short encyclopedia-style documents and 40 questions, each with
the one document that answers it. Some questions share words with their answer (keyword search
finds them), some only share meaning (vector search does), as real questions do."""

from __future__ import annotations

DOCUMENTS: dict[str, str] = {
    "honeybees.md": (
        "Honeybees live in colonies headed by a single queen. Worker bees gather nectar and "
        "pollen, and they communicate the location of flowers to their sisters with the waggle "
        "dance. A strong hive in summer may hold sixty thousand bees."
    ),
    "volcanoes.md": (
        "A volcano forms where molten rock, called magma, rises through the crust. Shield "
        "volcanoes such as Mauna Loa have gentle slopes built by fluid lava, while "
        "stratovolcanoes erupt explosively and build steep cones of ash and lava."
    ),
    "sourdough.md": (
        "Sourdough bread is leavened by a starter, a culture of wild yeast and lactic acid "
        "bacteria kept alive by regular feeding with flour and water. The bacteria give the "
        "loaf its tangy flavour; a long cold proof deepens it."
    ),
    "photosynthesis.md": (
        "Photosynthesis lets plants turn light into chemical energy. In the chloroplasts, "
        "chlorophyll absorbs sunlight, water is split and oxygen is released, and carbon "
        "dioxide is fixed into sugars by the Calvin cycle."
    ),
    "tides.md": (
        "Ocean tides are caused mainly by the Moon's gravity pulling on the oceans, with a "
        "smaller pull from the Sun. Most coasts see two high waters a day. Spring tides, the "
        "largest, come when the Sun and Moon line up at new and full moon."
    ),
    "vaccines.md": (
        "A vaccine trains the immune system to recognise a pathogen without causing the "
        "disease. It exposes the body to a weakened or inactivated germ, or to one of its "
        "proteins, so memory cells and antibodies are ready for a real infection."
    ),
    "chess_openings.md": (
        "In chess the opening is the first phase of the game. The Sicilian Defence answers 1.e4 "
        "with c5 and leads to sharp, unbalanced positions. The Queen's Gambit offers a pawn "
        "to gain control of the centre."
    ),
    "coffee.md": (
        "Coffee beans are the roasted seeds of the Coffea plant, first cultivated in Ethiopia "
        "and Yemen. Arabica beans taste smoother and contain less caffeine than Robusta beans, "
        "which are hardier and more bitter."
    ),
    "glaciers.md": (
        "A glacier is a slow river of ice formed from compacted snow over centuries. As it "
        "moves it carves U-shaped valleys and leaves moraines of rock debris. Many glaciers "
        "are retreating as the climate warms."
    ),
    "tcp.md": (
        "TCP is a transport protocol that gives applications a reliable, ordered byte stream. "
        "A connection opens with a three-way handshake of SYN, SYN-ACK and ACK packets, and "
        "lost segments are retransmitted after a timeout."
    ),
    "dns.md": (
        "The Domain Name System translates human-readable names like example.org into IP "
        "addresses. Resolvers ask root servers, then top-level-domain servers, then the "
        "domain's authoritative name server, and cache answers for their time to live."
    ),
    "octopus.md": (
        "The octopus is a soft-bodied cephalopod with eight arms lined with suckers. It has "
        "three hearts and blue, copper-based blood, and it can change the colour and texture "
        "of its skin in a fraction of a second to hide from predators."
    ),
    "roman_aqueducts.md": (
        "Roman aqueducts carried water from distant springs into cities using only gravity. "
        "Engineers kept a steady, very slight downward gradient over dozens of kilometres, "
        "crossing valleys on arched stone bridges such as the Pont du Gard."
    ),
    "printing_press.md": (
        "Around 1440 Johannes Gutenberg built a printing press with movable metal type in "
        "Mainz. Books became far cheaper to produce, literacy spread across Europe, and the "
        "Gutenberg Bible became the first major book printed this way."
    ),
    "black_holes.md": (
        "A black hole is a region where gravity is so strong that nothing, not even light, can "
        "escape once past the event horizon. Stellar black holes form when massive stars "
        "collapse at the end of their lives."
    ),
    "compound_interest.md": (
        "Compound interest is interest earned on both the original principal and on interest "
        "already added. Savings grow exponentially: at seven percent a year, money doubles in "
        "roughly ten years, a shortcut known as the rule of 72."
    ),
    "marathon.md": (
        "The marathon is a long-distance running race of 42.195 kilometres. Legend links it to "
        "the messenger Pheidippides, who ran from the battlefield of Marathon to Athens. "
        "Runners often hit 'the wall' when their glycogen stores run out."
    ),
    "penguins.md": (
        "Penguins are flightless seabirds of the southern hemisphere. Their wings have become "
        "flippers for swimming. Emperor penguins breed in the Antarctic winter, and the "
        "fathers keep the egg warm on their feet for about two months."
    ),
    "git.md": (
        "Git is a distributed version control system. Every clone holds the full history of "
        "the project. Developers commit changes locally, create branches cheaply, and merge or "
        "rebase them before pushing to a shared remote repository."
    ),
    "solar_panels.md": (
        "Solar panels convert sunlight directly into electricity using photovoltaic cells made "
        "of silicon. Photons knock electrons loose, creating a current. An inverter turns the "
        "direct current into alternating current for the home."
    ),
    "earthquakes.md": (
        "Earthquakes happen when stress along a fault is released suddenly and the rocks slip. "
        "Seismic waves spread from the focus; their size is reported on the moment magnitude "
        "scale, where each step means about 32 times more energy."
    ),
    "cheese.md": (
        "Cheese is made by curdling milk with rennet or acid, separating the curds from the "
        "whey, then salting, pressing and ageing the curds. Hard cheeses like Parmesan age for "
        "years; blue cheeses are ripened by Penicillium mould."
    ),
    "bicycles.md": (
        "A bicycle stays upright mostly through steering: when it leans, the rider and the "
        "fork geometry turn the front wheel into the lean. Gears let the rider keep a "
        "comfortable pedalling cadence on hills and flats."
    ),
    "sleep.md": (
        "Adults need about seven to nine hours of sleep a night. Sleep runs in cycles of light "
        "sleep, deep slow-wave sleep and REM sleep, when most vivid dreaming happens. Too "
        "little sleep harms memory and mood."
    ),
    "antibiotics.md": (
        "Antibiotics kill bacteria or stop them from multiplying; they do not work against "
        "viruses. Penicillin, discovered by Alexander Fleming in 1928, was the first. Overuse "
        "breeds resistant strains that no longer respond to treatment."
    ),
    "rainbows.md": (
        "A rainbow appears when sunlight enters raindrops, is refracted, reflected inside the "
        "drop and refracted again on the way out. Each colour bends by a slightly different "
        "angle, so white light spreads into a spectrum from red to violet."
    ),
    "great_wall.md": (
        "The Great Wall of China is a series of fortifications built over many dynasties to "
        "guard northern borders against nomadic raids. Most of the wall standing today dates "
        "from the Ming dynasty and is made of brick and stone."
    ),
    "jazz.md": (
        "Jazz grew out of New Orleans in the early twentieth century, mixing blues, ragtime "
        "and brass band music. Improvisation is central: players invent melodies over chord "
        "changes. Louis Armstrong and Duke Ellington shaped its early years."
    ),
    "recycling_plastic.md": (
        "Plastic recycling sorts waste by resin type, shreds it into flakes, washes and melts "
        "them into pellets for new products. Only some plastics, such as PET bottles, are "
        "widely recycled; many items are too mixed or dirty to reuse."
    ),
    "hydrogen_fuel_cells.md": (
        "A hydrogen fuel cell produces electricity by combining hydrogen and oxygen across a "
        "membrane, with water as the only exhaust. Fuel cell cars refuel in minutes, but "
        "producing and storing hydrogen cheaply remains difficult."
    ),
}

QUESTIONS: list[tuple[str, str]] = [
    ("How do bees tell each other where flowers are?", "honeybees.md"),
    ("What does a worker insect in a hive collect?", "honeybees.md"),
    ("Why do some mountains erupt violently while others ooze lava?", "volcanoes.md"),
    ("What is Mauna Loa an example of?", "volcanoes.md"),
    ("What makes naturally leavened bread taste sour?", "sourdough.md"),
    ("How do plants make sugar from sunlight?", "photosynthesis.md"),
    ("Which pigment captures light in leaves?", "photosynthesis.md"),
    ("Why does the sea rise and fall twice a day?", "tides.md"),
    ("When are spring tides largest?", "tides.md"),
    ("How does an immunisation protect you from getting sick?", "vaccines.md"),
    ("What is a sharp reply to 1.e4 in chess?", "chess_openings.md"),
    ("Which coffee variety has more caffeine?", "coffee.md"),
    ("Where was the coffee plant first grown?", "coffee.md"),
    ("How are U-shaped valleys formed?", "glaciers.md"),
    ("What packets start a reliable network connection?", "tcp.md"),
    ("How does a computer find the IP address for a website name?", "dns.md"),
    ("How many hearts does an eight-armed sea creature have?", "octopus.md"),
    ("How did ancient Rome bring water into its cities?", "roman_aqueducts.md"),
    ("What is the Pont du Gard?", "roman_aqueducts.md"),
    ("Who invented movable type printing in Europe?", "printing_press.md"),
    ("Why can't light escape from some collapsed stars?", "black_holes.md"),
    ("How long does it take savings to double at seven percent?", "compound_interest.md"),
    ("What is the rule of 72?", "compound_interest.md"),
    ("How long is the marathon race?", "marathon.md"),
    ("Why do long-distance runners suddenly feel exhausted late in a race?", "marathon.md"),
    ("Which birds use their wings as flippers?", "penguins.md"),
    ("Who keeps emperor penguin eggs warm?", "penguins.md"),
    ("How do developers work on branches before sharing code?", "git.md"),
    ("How do rooftop panels turn sunshine into power?", "solar_panels.md"),
    ("What does an inverter do in a solar installation?", "solar_panels.md"),
    ("What causes the ground to shake along a fault?", "earthquakes.md"),
    ("How much more energy is each step of the moment magnitude scale?", "earthquakes.md"),
    ("How is milk turned into curds?", "cheese.md"),
    ("What keeps a moving bike from falling over?", "bicycles.md"),
    ("How many hours of rest do grown-ups need each night?", "sleep.md"),
    ("Why don't antibiotics cure a cold virus?", "antibiotics.md"),
    ("Who discovered penicillin?", "antibiotics.md"),
    ("Why does white light split into colours after a rain shower?", "rainbows.md"),
    ("Which dynasty built most of the surviving Chinese border fortifications?", "great_wall.md"),
    ("Where did jazz music begin?", "jazz.md"),
]
